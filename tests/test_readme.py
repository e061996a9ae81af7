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


def _extracted_by_ci(marker: str) -> str:
    """The block as .ci/run reads it (.ci/readme-block)."""
    script = README.parent / ".ci" / "readme-block"
    return subprocess.run(["bash", str(script), marker], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("marker", ["quick-start", "test-command", "slow-test-command"])
def test_ci_reads_each_readme_command_as_written(marker):
    assert _extracted_by_ci(marker) == _block_after(marker, "bash").strip()


def test_ci_runs_the_main_job_then_the_test_commands_in_the_readme_order():
    ci = (README.parent / ".ci" / "run").read_text()
    steps = 'for step in "quick-start tail" test-command slow-test-command; do'
    assert steps in ci and ci.index(steps) < ci.index("git status --porcelain results/reference")
    text = README.read_text()
    assert (
        text.index("<!-- quick-start -->")
        < text.index("<!-- test-command -->")
        < text.index("<!-- slow-test-command -->")
    )


def test_the_first_command_installs_then_runs_the_main_job_with_the_default_store():
    """CI runs the part after the last `&& `: the main job, which must write to runs/, not results/reference/."""
    (line,) = _block_after("quick-start", "bash").strip().splitlines()
    *install, job = line.split(" && ")
    assert install[0].startswith("pip install torch==") and "pip install -e" in install[-1]
    assert job.startswith("fsfer-bench run ") and "--out" not in job


def test_the_quick_and_slow_test_commands_differ_only_by_the_slow_selection():
    quick = _block_after("test-command", "bash").strip()
    slow = _block_after("slow-test-command", "bash").strip()
    assert slow == f"{quick} -m slow"
