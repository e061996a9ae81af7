"""Issue 26, item 3: SIGTERM or SIGHUP to a `sweep --jobs 2` ends its whole process tree, cleanly.

A real sweep runs in a real process (main, resource tracker, fork server, two
workers training); a real signal goes to the main process. Within seconds
every process of the tree has ended, the main process exits 128 + the signal,
no claim is left held, no temporary file is left behind, and a rerun plans
every unfinished cell to run (none "running elsewhere"). Before the fix the
workers and the fork server idled forever after the main process died.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(os.environ.get("FSFER_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
#: Long enough training that both workers are busy when the signal comes.
CONFIG = """
[run]
way = 2
query = 2
episodes = 3
image_size = 16
device = "cpu"
[train]
steps = 3000
val_every = 0
"""
GRID = ["--methods", "protonet", "--splits", "CFEE_B", "--train-on", "CKplus", "--shots", "1", "--seeds", "0,1,2,3"]
ENDED_WITHIN_S = 15.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "CFEE").is_dir() or not (DATA / "CKplus48").is_dir(), reason="needs CFEE, CK+"),
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from fsfer_bench.cli import main; main()", *args]


def _tree(pid: int) -> set[int]:
    """`pid` and all its descendants, from /proc."""
    found = {pid}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found |= _tree(int(child))
    return found


def _running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_the_sweep_and_its_workers(tmp_path, signum):
    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG)
    store = tmp_path / "store"
    path = os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "FSFER_DATA": str(DATA), "FSFER_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": path}  # fmt: skip
    sweep = subprocess.Popen(
        _cli("sweep", "--config", str(config), *GRID, "--out", str(store), "--jobs", "2", "--quiet"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        claims = store / "claims"
        _wait_for(lambda: len(list(claims.glob("*.*"))) >= 2, 240, "both workers to claim a cell")
        time.sleep(2.0)  # into training
        tree = _tree(sweep.pid)
        assert len(tree) >= 4, f"expected main, fork server and two workers, found {tree}"
        os.kill(sweep.pid, signum)
        start = time.monotonic()
        _wait_for(lambda: not _running(tree), ENDED_WITHIN_S, f"the process tree {tree} to end")
        ended_in = time.monotonic() - start
        _, err = sweep.communicate(timeout=10)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 128 + signum, err
    assert "Traceback" not in err and f"stopped by {signal.Signals(signum).name}" in err, err
    assert ended_in < ENDED_WITHIN_S
    assert [p.name for p in claims.iterdir()] == [], "claims left held"
    assert not [p for p in store.rglob(".*") if p.is_file()], "temporary files left behind"

    plan = subprocess.run(
        _cli("sweep", "--config", str(config), *GRID, "--out", str(store), "--dry-run", "--format", "json"),
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    cells = json.loads(plan.stdout)
    assert len(cells) == 4
    assert all(c["run"] or c["note"] == "already in the store" for c in cells), cells
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
