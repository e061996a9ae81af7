"""docs/datasets.md "Writing an adapter": its example, followed literally, reads a new layout.

The page's module and pyproject.toml are written to a fresh package outside the
repository and installed with pip (into a folder of its own, so the shared
environment is untouched; the page says `pip install -e .`); then the page's
`fsfer-bench` commands run as written, with that folder on PYTHONPATH, where
importlib.metadata finds the package's entry point.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import fakes
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"

pytestmark = pytest.mark.slow  # a pip install and fresh interpreters


def block(marker: str, language: str) -> str:
    match = re.search(rf"<!-- snippet: {marker} -->\s*```{language}\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"no ```{language} block after <!-- snippet: {marker} --> in {DOC.name}"
    return match.group(1)


def tinyfer_data(folder: Path) -> None:
    """Two people, every code once each, in the page's layout; plus one bad code, one garbled line and a
    path leaving the folder, which the page's scan must name."""
    lines = []
    for person in ("ann", "bob"):
        for code in range(1, 8):
            fakes.image(folder / "people" / person / f"{code}.png")
            lines.append(f"{person}/{code}.png {code}")
    lines += ["ann/1.png 9", "garbled", "../../secret.png 4"]
    (folder / "labels.txt").write_text("\n".join(lines) + "\n")


def install(package: Path, target: Path) -> None:
    """The page's `pip install -e .`, into `target` (offline, no build isolation: the test's environment)."""
    assert block("adapter-commands", "bash").splitlines()[0] == "pip install -e ."
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(package)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def test_the_adapter_example_runs_as_written(tmp_path):
    package = tmp_path / "tinyfer-adapter"
    package.mkdir()
    (package / "tinyfer.py").write_text(block("adapter-module", "python"))
    (package / "pyproject.toml").write_text(block("adapter-pyproject", "toml"))
    site = tmp_path / "site"
    install(package, site)
    work = tmp_path / "work"
    tinyfer_data(work / "data" / "TinyFER")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    env.pop("FSFER_DATA", None)
    bin_dir = Path(sys.executable).parent
    outputs = []
    for command in block("adapter-commands", "bash").splitlines()[1:]:
        words = shlex.split(command)
        assert words[0] == "fsfer-bench"
        done = subprocess.run([str(bin_dir / "fsfer-bench"), *words[1:]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        outputs.append(done)
    listed, checked = outputs
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^\s*TinyFER\b.*people/<person>/<file>\.png", listed.stdout, re.M), listed.stdout
    assert checked.returncode == 1, checked.stderr  # a path leaving the folder is fatal: a run would fail
    report = checked.stdout
    assert "14 images" in report and "2 subjects" in report, report
    for problem in ("labels.txt:15", "labels.txt:16", "labels.txt:17"):
        assert problem in report, report
