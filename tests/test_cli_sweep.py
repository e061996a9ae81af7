"""`fsfer-bench sweep` end to end in this process: dry run, per-cell lines, summary, sweep file, one-line errors."""

from __future__ import annotations

import json

import pytest
import sweeptoys
from click.testing import CliRunner
from sweeptoys import TINY, TINY_SET

from fsfer_bench.cli import main

GRID = ["--methods", "protonet", "--splits", "Toy_C", "--shots", "1,5", "--plugin", "sweeptoys"]
FAST = ["--episodes", str(TINY["episodes"]), "--device", "cpu",
        *(f"--set={k}={v}" for k, v in TINY.items() if k not in ("episodes", "device")),
        *(f"--set={a}" for a in TINY_SET)]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def toys():
    sweeptoys.register()


def sweep(*args: str):
    return CliRunner().invoke(main, ["sweep", *args])


def _fails_with(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    message = result.stderr.strip()
    assert "Traceback" not in result.output and len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message


def test_dry_run_lists_the_cells_and_runs_nothing(tmp_path):
    result = sweep(*GRID, *FAST, "--seeds", "0,1", "--out", str(tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("run      protonet Toy_C ") for line in lines)
    assert "4 cell(s) to run in 2 job(s)" in result.stderr and "nothing was run" in result.stderr
    assert not (tmp_path / "records").exists()


def test_sweep_prints_a_line_per_cell_and_a_summary_then_resumes(tmp_path):
    result = sweep(*GRID, *FAST, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("done     protonet Toy_C 1-shot seed 0") and lines[0].endswith("%  (trained)")
    assert lines[-1] == "sweep: 2 done, 0 skipped, 0 failed"
    dry = sweep(*GRID, *FAST, "--seeds", "0,1", "--out", str(tmp_path), "--dry-run")
    assert [line.split()[0] for line in dry.stdout.splitlines()] == ["skip", "skip", "run", "run"]
    assert "already in the store" in dry.stdout.splitlines()[0]
    again = sweep(*GRID, *FAST, "--seeds", "0,1", "--out", str(tmp_path), "--quiet")
    assert again.stdout.strip() == "sweep: 2 done, 2 skipped, 0 failed"


def test_sweep_file_and_json_summary(tmp_path):
    file = tmp_path / "study.toml"
    sets = "\n".join(f"{a.split('=')[0].split('.')[1]} = {a.split('=')[1]}" for a in TINY_SET)
    file.write_text(
        f'[sweep]\nmethods = ["protonet"]\nsplits = ["Toy_C", "Toy_C5"]\nshots = [1]\nplugins = ["sweeptoys"]\n'
        f'[run]\nepisodes = 4\nquery = 3\nimage_size = {TINY["image_size"]}\ndevice = "cpu"\nout = "{tmp_path}"\n'
        f"[train]\n{sets}\n"
    )
    result = sweep("--config", str(file), "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (2, 0, 0)
    assert [c["record"]["training"]["reused"] for c in summary["cells"]] == [False, True]
    assert {c["record"]["n_episodes"] for c in summary["cells"]} == {4}


def test_failures_are_summarised_and_retry_failed_reruns_only_them(tmp_path, monkeypatch):
    grid = ["--methods", "protonet,toy-flaky", "--splits", "Toy_C", "--shots", "1", "--plugin", "sweeptoys"]
    monkeypatch.setenv("FSFER_TEST_FLAKY", "1")
    result = sweep(*grid, *FAST, "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "sweep: 1 done, 0 skipped, 1 failed" in result.stdout
    assert "  failed  toy-flaky Toy_C 1-shot seed 0: RuntimeError: flaky training broke, as asked" in result.stdout
    assert "--retry-failed" in result.stderr
    monkeypatch.delenv("FSFER_TEST_FLAKY")
    retry = sweep(*grid, *FAST, "--out", str(tmp_path), "--retry-failed", "--format", "json")
    summary = json.loads(retry.stdout)
    assert [c["cell"] for c in summary["cells"]] == ["toy-flaky Toy_C 1-shot seed 0"]
    assert (summary["done"], summary["skipped"], summary["failed"]) == (1, 1, 0)


def test_mistakes_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nseed = [1]\n")
    _fails_with(sweep("--config", str(bad)), 2, "unknown key 'seed' in [sweep]", "did you mean 'seeds'")
    _fails_with(sweep("--splits", "Toy_C"), 2, "needs methods and splits")
    _fails_with(sweep("--methods", "protonet", "--splits", "Nope_C"), 2, "unknown split 'Nope_C'")
    blocked = tmp_path / "file"
    blocked.write_text("")
    _fails_with(sweep(*GRID, *FAST, "--out", str(blocked)), 2, "cannot write results to")


def test_slurm_where_there_is_none_is_a_one_line_error(tmp_path):
    import shutil

    if shutil.which("srun"):
        pytest.skip("Slurm is installed here")
    result = sweep(*GRID, *FAST, "--out", str(tmp_path), "--executor", "slurm", "--partition", "gpu")
    _fails_with(result, 2, "cannot use Slurm here", "--executor local")
