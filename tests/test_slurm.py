"""Sweeps on a real single-node Slurm (see slurm_cluster.py): job arrays, cancelled and requeued tasks.

The cluster has accounting storage off, as most small clusters without slurmdbd:
`sacct` cannot answer, and the sweep must learn of a dead task from squeue and
the claim heartbeats. The sweeps run as the CLI in a subprocess, on the toy cells
of `sweeptoys`; a pause after a training checkpoint (FSFER_TEST_PAUSE_AT_CHECKPOINT)
gives a window to cancel or requeue a task mid-training without long trainings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sweeptoys
import torch
from slurm_cluster import KILL_WAIT_S, ClusterUnavailable, SlurmCluster, ensure_installed
from sweeptoys import TINY, TINY_SET

from fsfer_bench.executors import InProcessExecutor
from fsfer_bench.sweep import Sweep, plan_sweep, run_sweep, training_groups

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

TESTS = Path(__file__).resolve().parent
LEASE_S, POLL_S = 10, 2


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A running single-node Slurm for this module; skips, saying why, where it cannot be installed or started."""
    try:
        ensure_installed()
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    except ClusterUnavailable as exc:
        pytest.skip(f"no single-node Slurm here: {exc}")
    sweeptoys.register()
    yield cluster
    cluster.stop()


def grid(out: Path, *assignments: str, seeds=(0, 1), splits=("Toy_C", "Toy_C5")) -> Sweep:
    """The cells the CLI sweeps below run, as the test sees them (for hashes and training groups)."""
    return Sweep(methods=("protonet",), splits=splits, shots=(1, 5), seeds=seeds, flags={**TINY, "out": str(out)},
                 assignments=(*TINY_SET, *assignments), plugins=("sweeptoys",))  # fmt: skip


def sweep_args(out: Path, *extra: str, seeds: str = "0,1", splits: str = "Toy_C,Toy_C5") -> list[str]:
    settings = [f"--set={k}={v}" for k, v in TINY.items() if k not in ("episodes", "device")]
    return [sys.executable, "-c", "from fsfer_bench.cli import main; main()", "sweep", "--plugin", "sweeptoys",
            "--methods", "protonet", "--splits", splits, "--shots", "1,5", "--seeds", seeds,
            "--episodes", str(TINY["episodes"]), "--device", "cpu", "--out", str(out), *settings,
            *(f"--set={a}" for a in TINY_SET), "--executor", "slurm", "--partition", "debug", "--jobs", "2",
            "--cpus-per-job", "1", "--lease", str(LEASE_S), "--poll", str(POLL_S), "--timeout", "10",
            *extra]  # fmt: skip


def env(**extra: str) -> dict:
    """The sweep's environment; sbatch passes it on to the tasks (tests/ on PYTHONPATH for sweeptoys)."""
    path = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


@pytest.fixture
def start():
    """Start a sweep in a subprocess; one still running when the test ends (it failed) is killed."""
    started = []

    def start(args: list[str], **extra_env: str) -> subprocess.Popen:
        started.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env(**extra_env)))  # fmt: skip
        return started[-1]

    yield start
    for sweep in started:
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()


def finish(sweep: subprocess.Popen, cluster: SlurmCluster, timeout: float = 240) -> tuple[str, str]:
    try:
        return sweep.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        sweep.kill()
        stdout, stderr = sweep.communicate()
        raise AssertionError(f"sweep still running after {timeout} s\n{cluster.squeue()}\n{stdout}\n{stderr}") from None


def wait_for(condition, what: str, sweep: subprocess.Popen, cluster: SlurmCluster, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if sweep.poll() is not None:
            raise AssertionError(f"sweep ended before {what}: {sweep.communicate()}")
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout} s\n{cluster.squeue()}")


def running_task(cluster: SlurmCluster, index: int) -> str | None:
    """The id of task `index` of the sweep's job array (a plain job where there is one task), once running."""
    for line in cluster.squeue().splitlines():
        task, state, *_ = line.split()
        if state == "RUNNING" and (task.endswith(f"_{index}") or (index == 0 and "_" not in task)):
            return task
    return None


def stored(out: Path) -> dict[str, dict]:
    return {r["config_hash"]: r for r in map(json.loads, map(Path.read_text, (out / "records").rglob("*.json")))}


def no_repeated_lines(text: str) -> None:
    counts = Counter(line for line in text.splitlines() if line.strip())
    assert not [line for line, n in counts.items() if n > 1], text


def test_a_sweep_of_8_cells_runs_as_a_2_task_array_quietly(slurm_cluster, tmp_path, start):
    out = tmp_path / "store"
    began = time.time()
    stdout, stderr = finish(start(sweep_args(out)), slurm_cluster)
    seconds = time.time() - began
    assert "sweep: 8 done, 0 skipped, 0 failed" in stdout, (stdout, stderr)
    cells = grid(out).cells()
    assert len(training_groups(cells)) == 2 and stored(out).keys() == {c.hash for c in cells}
    results = sorted(p.name.split("_")[:2] for p in (out / "slurm").glob("*_result.pkl"))
    assert [index for _, index in results] == ["0", "1"] and len({job for job, _ in results}) == 1  # one array
    # quiet: one line on accounting, no submitit warnings (they are in the sweep's log file)
    assert stderr.count("Slurm accounting is off") == 1 and "submitit" not in stdout + stderr, stderr
    no_repeated_lines(stdout + stderr)
    print(f"8-cell sweep on Slurm: {seconds:.1f} s")


def _checkpoint(out: Path, cell) -> Path:
    """Where the training of `cell` checkpoints: the model cache names it by the settings and the pool's content."""
    from fsfer_bench.experiment import build_pools, training_hash

    return out / "models" / f"{training_hash(cell.config, build_pools(cell.config).train)}.ckpt.pt"


def test_a_cancelled_task_fails_its_cells_within_the_lease_and_retry_failed_completes_them(
    slurm_cluster, tmp_path, start
):
    out = tmp_path / "store"
    longer = ("train.steps=6", "train.checkpoint_every=2")
    cells = grid(out, *longer).cells()
    first = training_groups(cells)[0]  # array task 0's cells
    checkpoint = _checkpoint(out, first[0])
    args = sweep_args(out, *(f"--set={a}" for a in longer))
    sweep = start(args, FSFER_TEST_PAUSE_AT_CHECKPOINT="2:600:0")  # task 0 stops for 10 minutes mid-training
    wait_for(checkpoint.exists, "checkpoint of task 0", sweep, slurm_cluster)
    task = wait_for(lambda: running_task(slurm_cluster, 0), "running task 0", sweep, slurm_cluster)
    subprocess.run(["scancel", task], check=True)
    cancelled = time.time()
    stdout, stderr = finish(sweep, slurm_cluster)
    seconds = time.time() - cancelled
    assert sweep.returncode == 1, (stdout, stderr)
    assert "sweep: 4 done, 0 skipped, 4 failed" in stdout, (stdout, stderr)
    for cell in first:
        assert f"failed  {cell.label}: Slurm task {task} cancelled (last heartbeat" in stdout, stdout
    # Found dead within the lease and one poll of its last heartbeat, which goes on for Slurm's KillWait
    # after the scancel (submitit's tasks sit out the SIGTERM); the rest is the sweep process ending.
    silent = {int(s) for s in re.findall(r"cancelled \(last heartbeat (\d+) s ago", stdout)}
    assert silent and max(silent) <= LEASE_S + POLL_S + 1, stdout
    assert seconds <= LEASE_S + POLL_S + KILL_WAIT_S + 10, seconds  # a shared 2-core machine: slack
    no_repeated_lines(stderr)
    failures = {p.stem for p in (out / "failures").glob("*.json")}
    assert failures == {c.hash for c in first}

    retry = subprocess.run([*args, "--retry-failed"], capture_output=True, text=True, env=env(), timeout=240)
    assert retry.returncode == 0, (retry.stdout, retry.stderr)
    assert "sweep: 4 done, 4 skipped, 0 failed" in retry.stdout, retry.stdout
    assert stored(out).keys() == {c.hash for c in cells} and not any((out / "failures").glob("*.json"))
    print(f"scancel to sweep end: {seconds:.1f} s (lease {LEASE_S} s, poll {POLL_S} s, KillWait {KILL_WAIT_S} s; "
          f"found dead {max(silent)} s after the last heartbeat)")  # fmt: skip


def test_a_requeued_task_resumes_from_its_checkpoint_to_the_uninterrupted_numbers(slurm_cluster, tmp_path, start):
    out, clean = tmp_path / "requeued", tmp_path / "clean"
    longer = ("train.steps=8", "train.checkpoint_every=2")
    (training,) = training_groups(grid(out, *longer, seeds=(0,)).cells())
    checkpoint = _checkpoint(out, training[0])
    args = sweep_args(out, *(f"--set={a}" for a in longer), "--requeue", "--format", "json", seeds="0")
    sweep = start(args, FSFER_TEST_PAUSE_AT_CHECKPOINT="2:600")  # the first run stops after step 2's checkpoint
    wait_for(checkpoint.exists, "checkpoint", sweep, slurm_cluster)
    task = wait_for(lambda: running_task(slurm_cluster, 0), "running task", sweep, slurm_cluster)
    subprocess.run(["scontrol", "requeue", task], check=True)

    def released() -> bool:  # Slurm holds a requeued task back 2 minutes (BeginTime): start it now
        if f"{task} PENDING BeginTime" not in slurm_cluster.squeue():
            return False  # still being killed
        done = subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], capture_output=True)
        return done.returncode == 0

    wait_for(released, "requeued task pending", sweep, slurm_cluster, timeout=60)
    requeued = time.time()
    stdout, stderr = finish(sweep, slurm_cluster)
    print(f"requeue to sweep end: {time.time() - requeued:.1f} s")
    assert sweep.returncode == 0, (stdout, stderr)
    report = json.loads(stdout)
    assert any("#SBATCH --requeue" in f.read_text() for f in (out / "slurm").rglob("*.sh"))  # --requeue asked it
    assert {c["status"] for c in report["cells"]} == {"done"}
    assert {c["record"]["training"]["resumed_from"] for c in report["cells"]} == {2}

    reference = InProcessExecutor()
    reference.worker_threads = 1  # as the Slurm task (--cpus-per-job 1): CPU sums depend on the thread count
    threads = torch.get_num_threads()
    try:
        run_sweep(plan_sweep(grid(clean, *longer, seeds=(0,))), reference)
    finally:
        torch.set_num_threads(threads)
    resumed, uninterrupted = stored(out), stored(clean)
    assert resumed.keys() == uninterrupted.keys()
    assert {h: r["accuracies"] for h, r in resumed.items()} == {h: r["accuracies"] for h, r in uninterrupted.items()}
