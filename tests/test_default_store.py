"""Runs never write into the committed reference study: the default store is the git-ignored runs/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from toydata import register_toys

from fsfer_bench.cli import main
from fsfer_bench.config import RunConfig

REPO = Path(__file__).resolve().parents[1]
FAST = ["--method", "protonet", "--split", "Toy_C", "--image-size", "32", "--query", "5", "--episodes", "10",
        "--set", "train.steps=2", "--set", "train.val_every=0", "--quiet"]  # fmt: skip


def test_the_default_store_is_runs() -> None:
    assert RunConfig().out == "runs"


def test_run_and_report_with_defaults_use_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_toys()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", *FAST])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "runs" / "records").rglob("*.json"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing in results/, nor anywhere else
    report = CliRunner().invoke(main, ["report"])  # reads the default store
    assert report.exit_code == 0, report.output
    assert "protonet" in report.output


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_git_ignores_the_default_store() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/records/x.json"], cwd=REPO, check=False)
    assert ignored.returncode == 0
