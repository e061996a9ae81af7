"""The README's promises: its snippet runs as written, and CI runs its test command."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _block_after(marker: str, language: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```{language}\n(.*?)```", text, re.S)
    assert match, f"no ```{language} block after <!-- {marker} --> in README.md"
    return match.group(1)


@pytest.mark.slow
def test_add_a_method_snippet_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_block_after("snippet: add-a-method", "python"), "README.md", "exec"), {})
    line = out.getvalue().strip()
    assert re.fullmatch(r"cosine-protonet: \d+\.\d ± \d+\.\d % over 100 episodes", line), line
    mean = float(line.split(": ")[1].split(" ")[0])
    assert mean > 20  # 5-way chance
    assert list((tmp_path / "results-demo" / "records" / "SynFACS_C" / "cosine-protonet").glob("*.json"))


def test_ci_runs_the_readme_test_command():
    command = _block_after("test-command", "bash").strip()
    extracted = subprocess.run(
        ["bash", "-c", "awk '/<!-- test-command -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; "
         "next} found && inblock' README.md"],  # the same extraction as .ci/run
        cwd=README.parent, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert extracted == command
    assert "awk '/<!-- test-command -->/" in (README.parent / ".ci" / "run").read_text()
