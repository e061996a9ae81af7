"""How the sweep judges Slurm tasks without accounting: squeue states plus claim heartbeats (fast, fake Slurm).

`squeue` and `sacct` here are scripts on PATH that print what a cluster without
accounting storage prints; the real thing is exercised in tests/test_slurm.py.
"""

from __future__ import annotations

import logging
import os
import stat
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import sweeptoys
from sweeptoys import TINY, TINY_SET

from fsfer_bench.claims import ClaimBoard
from fsfer_bench.errors import FsferWarning
from fsfer_bench.executors import SlurmStates, SubmititExecutor, TaskDied, submitit_quiet
from fsfer_bench.sweep import Sweep, lost_job_outcomes
from fsfer_bench.worker import Job, WorkerSettings, run_job

LEASE_S = 10.0


@pytest.fixture(autouse=True, scope="module")
def toys():
    sweeptoys.register()


def fake_slurm(bin_dir: Path, monkeypatch, squeue: str) -> None:
    """`squeue` printing `squeue`; `sacct` failing as it does without accounting storage."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "squeue.out").write_text(squeue)
    disabled = "echo 'sacct: error: Slurm accounting storage is disabled' >&2"
    scripts = {"squeue": f"#!/bin/sh\ncat '{bin_dir / 'squeue.out'}'\n", "sacct": f"#!/bin/sh\n{disabled}\nexit 1\n"}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def job(out: Path, seed: int) -> Job:
    sweep = Sweep(methods=("protonet",), splits=("Toy_C",), shots=(1, 5), seeds=(seed,),
                  flags={**TINY, "out": str(out)}, assignments=tuple(TINY_SET))  # fmt: skip
    return Job(tuple(sweep.cells()), WorkerSettings(out=str(out), lease_s=LEASE_S))


def claim_as_task(job: Job, task: str, monkeypatch, age_s: float) -> None:
    """Claim `job`'s cells as Slurm task `task` would, with the last heartbeat `age_s` ago."""
    array, index = task.split("_")
    with monkeypatch.context() as m:
        m.setenv("SLURM_ARRAY_JOB_ID", array)
        m.setenv("SLURM_ARRAY_TASK_ID", index)
        board = ClaimBoard(Path(job.settings.out) / "claims", LEASE_S)
        for cell in job.cells:
            claim = board.acquire(cell.hash)
            stamp = time.time() - age_s
            os.utime(claim.path, (stamp, stamp))


def handle(tmp_path: Path, task: str) -> SimpleNamespace:
    paths = SimpleNamespace(result_pickle=tmp_path / f"{task}_result.pkl", stderr=tmp_path / f"{task}.err")
    return SimpleNamespace(job_id=task, paths=paths)


def poll(tmp_path: Path, pending: dict) -> list:
    executor = SubmititExecutor(SimpleNamespace(parameters={"job_name": "fsfer-sweep"}, folder=tmp_path), slurm=True,
                                lease_s=LEASE_S, log_file=tmp_path / "sweep.log")  # fmt: skip
    return executor._poll(pending, SlurmStates("fsfer-sweep"))


def test_a_cancelled_task_is_dead_once_its_heartbeats_are_older_than_the_lease(tmp_path, monkeypatch):
    fake_slurm(tmp_path / "bin", monkeypatch, "7_0|CANCELLED\n7_1|RUNNING\n7_[2-3%2]|PENDING\n")
    cancelled, running = job(tmp_path, 0), job(tmp_path, 1)
    claim_as_task(cancelled, "7_0", monkeypatch, age_s=LEASE_S + 5)
    claim_as_task(running, "7_1", monkeypatch, age_s=LEASE_S + 5)  # silent, but Slurm says it runs
    pending = {"7_0": (handle(tmp_path, "7_0"), cancelled), "7_1": (handle(tmp_path, "7_1"), running)}
    with pytest.warns(FsferWarning, match="^Slurm accounting is off here .*Slurm accounting storage is disabled"):
        ended = poll(tmp_path, pending)
    assert [task for task, _ in ended] == ["7_0"]
    error = ended[0][1]
    assert isinstance(error, TaskDied)
    assert str(error).startswith("Slurm task 7_0 cancelled (last heartbeat 15 s ago; log: ")


def test_a_task_with_a_fresh_heartbeat_is_not_dead_yet(tmp_path, monkeypatch):
    fake_slurm(tmp_path / "bin", monkeypatch, "7_0|CANCELLED\n")
    cancelled = job(tmp_path, 0)
    claim_as_task(cancelled, "7_0", monkeypatch, age_s=1)  # still being killed: its heartbeat goes on
    with pytest.warns(FsferWarning):
        assert poll(tmp_path, {"7_0": (handle(tmp_path, "7_0"), cancelled)}) == []


@pytest.mark.parametrize(
    ("squeue", "why"),
    [("", "task vanished"), ("7_0|TIMEOUT\n", "timeout"), ("7_0|NODE_FAIL\n", "node failure"),
     ("7_0|OUT_OF_MEMORY\n", "out of memory"), ("7_0|FAILED\n", "failed"),
     ("7_0|COMPLETED\n", "ended without a result")],
)  # fmt: skip
def test_why_a_task_died_is_slurms_reason_or_that_it_vanished(tmp_path, monkeypatch, squeue, why):
    fake_slurm(tmp_path / "bin", monkeypatch, squeue)
    died = job(tmp_path, 0)  # never claimed a cell: no heartbeat to wait for
    with pytest.warns(FsferWarning):
        ((task, error),) = poll(tmp_path, {"7_0": (handle(tmp_path, "7_0"), died)})
    assert str(error).startswith(f"Slurm task 7_0 {why} (no heartbeat; log: ")


def test_a_pending_or_requeued_task_is_never_dead(tmp_path, monkeypatch):
    fake_slurm(tmp_path / "bin", monkeypatch, "7_0|PENDING\n7_1|REQUEUED\n")
    jobs = {"7_0": job(tmp_path, 0), "7_1": job(tmp_path, 1)}
    with pytest.warns(FsferWarning):
        assert poll(tmp_path, {t: (handle(tmp_path, t), j) for t, j in jobs.items()}) == []


def test_a_dead_tasks_stored_cells_are_done_and_the_others_failed(tmp_path):
    lost = job(tmp_path, 0)
    first, second = lost.cells
    assert run_job(Job((first,), lost.settings))[0].status == "done"  # stored before the task died
    outcomes = list(lost_job_outcomes(lost, TaskDied("Slurm task 7_0 cancelled")))
    assert [(o.cell.hash, o.status, o.reason) for o in outcomes] == [
        (first.hash, "done", ""), (second.hash, "failed", "Slurm task 7_0 cancelled")]  # fmt: skip


def test_submitits_messages_go_to_the_sweeps_log_file_not_its_output(tmp_path, capfd):
    log = tmp_path / "slurm" / "sweep.log"
    before = logging.getLogger("submitit").handlers[:]
    with submitit_quiet(log), warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.getLogger("submitit").warning("Call #1 - Bypassing sacct error, status may be inaccurate.")
        warnings.warn_explicit("EOFError on file x", UserWarning, f"{os.sep}site{os.sep}submitit{os.sep}core.py", 3)
    out, err = capfd.readouterr()
    assert out == err == ""
    text = log.read_text()
    assert "Bypassing sacct error" in text and "UserWarning: EOFError on file x" in text
    assert logging.getLogger("submitit").handlers == before  # restored afterwards
