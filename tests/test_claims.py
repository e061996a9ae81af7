"""Claims: one owner per cell, stale claims (dead pid, expired lease) superseded by exactly one taker."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from fsfer_bench.claims import ClaimBoard, heartbeat, pid_alive
from fsfer_bench.errors import FsferWarning, StoreError


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _foreign_claim(board: ClaimBoard, key: str, *, pid: int, host: str, age_s: float = 0.0, generation: int = 0):
    path = board.root / f"{key}.{generation}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "token": "theirs"}))
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_a_claim_has_one_owner_until_released(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=60)
    claim = board.acquire("cell")
    assert claim is not None and board.owns(claim)
    assert board.acquire("cell") is None
    holder = board.holder("cell")
    assert holder.pid == os.getpid() and holder.host == board.host
    board.release(claim)
    assert board.holder("cell") is None and not claim.path.exists()
    assert board.acquire("cell") is not None


def test_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=3600)
    old = _foreign_claim(board, "cell", pid=_dead_pid(), host=board.host)
    assert board.holder("cell") is None
    claim = board.acquire("cell")
    assert claim is not None and claim.path.name == "cell.1"
    assert not old.exists()  # the superseded generation is cleaned up


def test_live_claims_are_honoured_until_the_lease_expires(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=30)
    _foreign_claim(board, "fresh", pid=1, host="elsewhere", age_s=5)
    _foreign_claim(board, "silent", pid=1, host="elsewhere", age_s=60)
    _foreign_claim(board, "alive-here", pid=os.getppid(), host=board.host, age_s=5)
    assert board.acquire("fresh") is None
    assert board.acquire("alive-here") is None
    assert board.acquire("silent") is not None


def test_an_empty_claim_is_being_written_for_a_moment_then_garbage(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=3600)
    (tmp_path / "young.0").write_text("")  # as the O_EXCL fallback leaves it for an instant
    old = tmp_path / "old.0"
    old.write_text("")
    os.utime(old, (time.time() - 10, time.time() - 10))
    assert board.acquire("young") is None
    assert board.holder("young").pid is None
    with pytest.warns(FsferWarning, match=r"claim file .*old\.0 is damaged"):
        assert board.acquire("old") is not None


@pytest.mark.parametrize("garbage", [b"\x00\xff\x13 not json", b"[1, 2]", b'{"pid": "x", "host": 3}'])
def test_a_garbage_claim_is_stale_at_once_and_named(tmp_path, garbage):
    board = ClaimBoard(tmp_path, lease_s=3600)
    (tmp_path / "cell.0").write_bytes(garbage)  # fresh: a live worker's claim would hold for an hour
    with pytest.warns(FsferWarning, match=r"claim file .*cell\.0 is damaged .*treated as stale"):
        assert board.holder("cell") is None
    with pytest.warns(FsferWarning):
        claim = board.acquire("cell")
    assert claim is not None and claim.path.name == "cell.1" and not (tmp_path / "cell.0").exists()


def test_claims_are_written_whole_with_the_umask_mode(tmp_path):
    old = os.umask(0o002)
    try:
        claim = ClaimBoard(tmp_path, lease_s=60).acquire("cell")
    finally:
        os.umask(old)
    assert stat.S_IMODE(claim.path.stat().st_mode) == 0o664
    assert json.loads(claim.path.read_text())["token"] == claim.token
    assert [p.name for p in tmp_path.iterdir()] == ["cell.0"]  # no draft left behind


def test_an_earlier_run_of_a_requeued_slurm_task_gives_way(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "41")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    first = ClaimBoard(tmp_path, lease_s=3600).acquire("cell")
    assert json.loads(first.path.read_text())["job"] == "41_1"
    # its sibling process in the same run (same task, same restart) is a live holder
    assert ClaimBoard(tmp_path, lease_s=3600).acquire("cell") is None
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # Slurm requeued the task: the first run is gone
    again = ClaimBoard(tmp_path, lease_s=3600).acquire("cell")
    assert again is not None and not first.path.exists()


def test_many_takers_of_a_stale_claim_one_wins(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=3600)
    _foreign_claim(board, "cell", pid=_dead_pid(), host=board.host)
    start = threading.Barrier(8)
    won = []

    def take() -> None:
        start.wait()
        claim = ClaimBoard(tmp_path, lease_s=3600).acquire("cell")
        if claim is not None:
            won.append(claim)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and board.owns(won[0])


def test_a_superseded_owner_learns_it_lost_the_claim(tmp_path):
    slow = ClaimBoard(tmp_path, lease_s=0.2)
    claim = slow.acquire("cell")
    time.sleep(0.3)  # it stalled past its lease
    taker = ClaimBoard(tmp_path, lease_s=0.2).acquire("cell")
    assert taker is not None
    assert not slow.owns(claim) and not slow.refresh(claim)
    slow.release(claim)  # must not remove the taker's claim
    assert slow.owns(taker)


def test_heartbeat_keeps_a_claim_fresh_then_releases_it(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=0.5)
    claim = board.acquire("cell")
    with heartbeat(board, [claim], interval_s=0.05):
        time.sleep(0.8)
        assert ClaimBoard(tmp_path, lease_s=0.5).acquire("cell") is None
    assert not claim.path.exists()


def test_pid_alive_sees_dead_and_zombie_processes():
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while pid_alive(zombie.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not pid_alive(zombie.pid)  # exited, not yet reaped
    zombie.wait()


def test_unwritable_claims_folder_is_a_store_error(tmp_path):
    blocker = tmp_path / "claims"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(StoreError, match="cannot claim cells under .*claims"):
        ClaimBoard(blocker).acquire("cell")
