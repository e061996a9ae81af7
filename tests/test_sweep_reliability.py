"""Sweeps under stress: killed workers, two sweeps at once, a full or read-only store, resume, submitit.

The sweeps here run as real processes (the CLI in a subprocess, a spawned process
pool, submitit's local executor), on the tiny toy cells of `sweeptoys`.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sweeptoys
import torch
from sweeptoys import TINY, TINY_SET

import fsfer_bench.model_cache
import fsfer_bench.results
from fsfer_bench.claims import ClaimBoard
from fsfer_bench.errors import StoreError
from fsfer_bench.executors import InProcessExecutor
from fsfer_bench.results import REQUIRED
from fsfer_bench.sweep import Sweep, SweepOptions, make_executor, plan_sweep, run_sweep

TESTS = Path(__file__).resolve().parent
CLI = [sys.executable, "-c", "from fsfer_bench.cli import main; main()", "sweep", "--plugin", "sweeptoys"]


@pytest.fixture(autouse=True, scope="module")
def toys():
    sweeptoys.register()


def tiny(out, *assignments: str, **grid) -> Sweep:
    grid = {"methods": ("protonet",), "splits": ("Toy_C",), "shots": (1, 5), "seeds": (0,), **grid}
    flags = {**TINY, "out": str(out)}
    return Sweep(**grid, flags=flags, assignments=(*TINY_SET, *assignments), plugins=("sweeptoys",))


def cli_args(out, seeds: str, *extra: str, splits: str = "Toy_C") -> list[str]:
    tiny_flags = [f"--set={k}={v}" for k, v in TINY.items() if k not in ("episodes", "device")]
    return [*CLI, "--methods", "protonet", "--splits", splits, "--shots", "1,5", "--seeds", seeds,
            "--episodes", str(TINY["episodes"]), "--device", "cpu", "--out", str(out), *tiny_flags,
            *(f"--set={a}" for a in TINY_SET), *extra]  # fmt: skip


def env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), **extra}


def assert_one_complete_record_per_cell(out: Path, cells) -> None:
    """Every cell has exactly one record; none is torn, none is missing a field or an episode."""
    files = list((out / "records").rglob("*.json"))
    stored = [json.loads(f.read_text()) for f in files]  # a torn record would fail to parse here
    counts = Counter(r["config_hash"] for r in stored)
    assert counts == Counter(c.hash for c in cells), counts
    for r in stored:
        assert all(k in r for k in REQUIRED) and len(r["accuracies"]) == r["episodes"] == TINY["episodes"]


def wait_for_a_busy_worker(out: Path, sweep: subprocess.Popen, timeout: float = 120) -> int:
    """The pid of a worker holding a claim, once at least one record is stored."""
    deadline = time.time() + timeout
    while time.time() < deadline and sweep.poll() is None:
        if any((out / "records").rglob("*.json")):
            for path in (out / "claims").glob("*.*"):
                try:
                    pid = json.loads(path.read_text())["pid"]
                except (OSError, ValueError, KeyError):
                    continue
                if pid != sweep.pid:
                    return pid
        time.sleep(0.02)
    raise AssertionError(f"no busy worker to kill; sweep ended with {sweep.poll()}: {sweep.stdout.read()}")


@pytest.mark.slow  # processes started and killed: tens of seconds
def test_a_worker_killed_mid_sweep_then_a_rerun_leaves_exactly_one_record_per_cell(tmp_path):
    out = tmp_path / "store"
    args = cli_args(out, "0,1,2,3,4", "--jobs", "4", splits="Toy_C,Toy_C5")  # 20 cells, 5 trainings
    sweep = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    os.kill(wait_for_a_busy_worker(out, sweep), signal.SIGKILL)
    stdout, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, stderr
    assert "a worker process died" in stdout
    done_before = len(list((out / "records").rglob("*.json")))
    assert 1 <= done_before < 20

    rerun = subprocess.run(args, capture_output=True, text=True, env=env(), timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"sweep: {20 - done_before} done, {done_before} skipped, 0 failed" in rerun.stdout
    assert_one_complete_record_per_cell(out, tiny(out, seeds=tuple(range(5)), splits=("Toy_C", "Toy_C5")).cells())


@pytest.mark.slow  # processes started and killed: tens of seconds
def test_two_sweeps_started_at_once_never_run_the_same_cell(tmp_path):
    out = tmp_path / "store"
    args = cli_args(out, "0,1,2,3", "--no-reuse-training", "--format", "json")  # 8 jobs of one cell each
    sweeps = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
              for _ in range(2)]  # fmt: skip
    reports = []
    for sweep in sweeps:
        stdout, stderr = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, stderr
        reports.append(json.loads(stdout))
    ran = [{c["config_hash"] for c in r["cells"] if c["status"] == "done"} for r in reports]
    cells = tiny(out, seeds=(0, 1, 2, 3)).cells()
    assert not ran[0] & ran[1]
    assert ran[0] | ran[1] == {c.hash for c in cells}
    assert_one_complete_record_per_cell(out, cells)


@pytest.mark.slow  # a sweep with a process pool: about ten seconds
def test_warnings_from_sweep_workers_are_one_line_each(tmp_path):
    """Seen in the real-data study: with --jobs 2, workers printed Python's `file:line: Warning` and source line."""
    (tmp_path / "warns_on_import.py").write_text(
        "import warnings\nfrom fsfer_bench.errors import FsferWarning\nwarnings.warn(FsferWarning('plugin loaded'))\n"
    )
    args = [*cli_args(tmp_path / "store", "0,1", "--jobs", "2"), "--plugin", "warns_on_import"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300,
                          env=env(PYTHONPATH=os.pathsep.join([str(TESTS), str(tmp_path)])))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines.count("warning: plugin loaded") == 3  # the sweep's own process and its two workers
    assert not [line for line in lines if "FsferWarning" in line or "warnings.warn" in line], done.stderr


@pytest.mark.parametrize(("code", "message"), [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only")])
def test_a_store_that_fails_mid_sweep_stops_it_with_a_clear_error_and_keeps_records(
    tmp_path, monkeypatch, code, message
):
    sweep = tiny(tmp_path, seeds=(0, 1, 2))
    write = fsfer_bench.results.write_json_atomic
    records = Counter()

    def fail_after_two_records(path, obj):
        """Every write fails once two records are stored: the disk filled up, or went read-only."""
        if records["n"] >= 2:
            raise OSError(code, os.strerror(code), str(path))
        records["n"] += "records" in Path(path).parts
        write(path, obj)

    for module in (fsfer_bench.results, fsfer_bench.model_cache):  # the record writer, and the model cache
        monkeypatch.setattr(module, "write_json_atomic", fail_after_two_records)
    with pytest.raises(StoreError, match=rf"cannot write .*{message}.*intact.*stopped.*run the sweep again"):
        run_sweep(plan_sweep(sweep), InProcessExecutor())
    written = [json.loads(f.read_text()) for f in (tmp_path / "records").rglob("*.json")]
    assert len(written) == 2 and all(len(r["accuracies"]) == TINY["episodes"] for r in written)

    monkeypatch.undo()  # space freed
    summary = run_sweep(plan_sweep(sweep), InProcessExecutor())
    assert (len(summary.done), summary.skipped) == (4, 2)
    assert_one_complete_record_per_cell(tmp_path, sweep.cells())


@pytest.mark.slow  # processes started and killed: tens of seconds
def test_a_sweep_killed_mid_training_resumes_to_the_same_model_and_accuracies(tmp_path):
    longer = ("train.steps=8", "train.checkpoint_every=2")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = cli_args(killed, "0", *(f"--set={a}" for a in longer))
    died = subprocess.run(args, capture_output=True, text=True, env=env(FSFER_TEST_DIE_AT_CHECKPOINT="4"))
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert len(list((killed / "models").glob("*.ckpt.pt"))) == 1 and not (killed / "records").exists()
    assert ClaimBoard(killed / "claims").holder(tiny(killed, *longer).cells()[0].hash) is None  # dead: stale

    resumed = run_sweep(plan_sweep(tiny(killed, *longer)), InProcessExecutor(), SweepOptions(resume=True))
    assert {o.record["training"]["resumed_from"] for o in resumed.done} == {4}
    run_sweep(plan_sweep(tiny(clean, *longer)), InProcessExecutor())

    def model(store: Path) -> dict:
        (path,) = (store / "models").glob("*.pt")
        return torch.load(path, weights_only=True)

    a, b = model(killed), model(clean)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    by_hash = {s: {r["config_hash"]: r["accuracies"] for r in map(json.loads, map(Path.read_text,
               (s / "records").rglob("*.json")))} for s in (killed, clean)}  # fmt: skip
    assert by_hash[killed] == by_hash[clean]


@pytest.mark.slow  # processes started and killed: tens of seconds
def test_submitit_local_executor_runs_the_job_array(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])  # the jobs are fresh interpreters
    sweep = tiny(tmp_path, seeds=(0, 1))
    options = SweepOptions(executor="submitit-local", jobs=2)
    summary = run_sweep(plan_sweep(sweep), make_executor(options, tmp_path, poll_s=0.2), options)
    assert len(summary.done) == 4 and not summary.failed
    assert_one_complete_record_per_cell(tmp_path, sweep.cells())
    assert len(list((tmp_path / "slurm").glob("*_result.pkl"))) == 2  # two jobs, each trained once
    assert sorted(o.reused for o in summary.done) == [False] * 4
