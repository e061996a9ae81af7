"""Claims: which worker runs which sweep cell, so that two sweeps on one store never run a cell twice.

A claim on key K is a file `<root>/K.<generation>` created with O_CREAT|O_EXCL,
which the file system grants to exactly one process. It holds the owner's pid,
host and a random token; its mtime is the owner's heartbeat, refreshed while
the work goes on.

A claim is stale when its heartbeat is older than the lease, or when its owner
ran on this host and its pid is gone. A stale claim is never deleted to be
replaced (two processes could both delete and both recreate); it is superseded:
whoever creates generation g+1 first (again O_EXCL) owns K, and the owner of g
sees, at its next heartbeat or before it writes, that it lost the claim. No
lock outlives its process: a killed worker's claims go stale at once on its own
host, and after the lease elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fsfer_bench.errors import StoreError

DEFAULT_LEASE_S = 300.0


@dataclass(frozen=True)
class Claim:
    """A claim this process holds (or held) on one key."""

    key: str
    path: Path
    token: str


@dataclass(frozen=True)
class Holder:
    """Who holds a claim, as its file says; pid and host are None while it is being written."""

    pid: int | None
    host: str | None
    age_s: float

    def describe(self) -> str:
        who = f"pid {self.pid} on {self.host}" if self.pid is not None else "a worker starting up"
        return f"{who}, heartbeat {self.age_s:.0f} s ago"


class ClaimBoard:
    """The claims of one store (`<store>/claims`); `lease_s` is how long a silent claim is honoured."""

    def __init__(self, root: str | Path, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.root = Path(root)
        self.lease_s = float(lease_s)
        self.host = socket.gethostname()

    def acquire(self, key: str) -> Claim | None:
        """Claim `key`, superseding a stale claim; None when a live claim is held elsewhere."""
        latest = self._latest(key)
        if latest is not None and not self._is_stale(latest[1]):
            return None
        generation = 0 if latest is None else latest[0] + 1
        claim = self._create(key, generation)
        if claim is not None:
            self._remove_older(key, generation)
        return claim

    def holder(self, key: str) -> Holder | None:
        """The live holder of `key`, or None when it is free or its claim is stale."""
        latest = self._latest(key)
        if latest is None or self._is_stale(latest[1]):
            return None
        return self._read_holder(latest[1])

    def owns(self, claim: Claim) -> bool:
        """Whether `claim` is still the current claim on its key (not superseded, not removed)."""
        latest = self._latest(claim.key)
        return latest is not None and latest[1] == claim.path and self._token(claim.path) == claim.token

    def refresh(self, claim: Claim) -> bool:
        """Renew the heartbeat; False when the claim was lost."""
        if not self.owns(claim):
            return False
        try:
            os.utime(claim.path)
        except OSError:
            return False
        return True

    def release(self, claim: Claim) -> None:
        if self.owns(claim):
            claim.path.unlink(missing_ok=True)

    # -- files

    def _generations(self, key: str) -> list[tuple[int, Path]]:
        found = []
        for path in self.root.glob(f"{key}.*"):
            suffix = path.name[len(key) + 1 :]
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def _latest(self, key: str) -> tuple[int, Path] | None:
        generations = self._generations(key)
        return generations[-1] if generations else None

    def _create(self, key: str, generation: int) -> Claim | None:
        path = self.root / f"{key}.{generation}"
        token = uuid.uuid4().hex
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return None  # another worker got there first
        except OSError as exc:
            raise self._unwritable(exc) from exc
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": self.host, "token": token, "created": time.time()}, f)
        except OSError as exc:  # a full disk: do not leave an empty claim behind
            path.unlink(missing_ok=True)
            raise self._unwritable(exc) from exc
        return Claim(key, path, token)

    def _unwritable(self, exc: OSError) -> StoreError:
        return StoreError(
            f"cannot claim cells under {self.root} ({exc.strerror or exc}); make the results folder writable"
        )

    def _remove_older(self, key: str, generation: int) -> None:
        for g, path in self._generations(key):
            if g < generation:
                path.unlink(missing_ok=True)

    def _is_stale(self, path: Path) -> bool:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        if age > self.lease_s:
            return True
        holder = self._read_holder(path)
        return holder is not None and holder.host == self.host and holder.pid is not None and not pid_alive(holder.pid)

    def _read_holder(self, path: Path) -> Holder | None:
        try:
            age = time.time() - path.stat().st_mtime
            info = json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            info = {}  # torn or still being written: judged by its age alone
        return Holder(info.get("pid"), info.get("host"), max(age, 0.0))

    def _token(self, path: Path) -> str | None:
        try:
            return json.loads(path.read_text()).get("token")
        except (OSError, ValueError):
            return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill()
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@contextmanager
def heartbeat(board: ClaimBoard, claims: list[Claim], interval_s: float | None = None) -> Iterator[None]:
    """Refresh `claims` in a background thread while the block runs; release them at the end."""
    interval = interval_s if interval_s is not None else max(board.lease_s / 5, 0.05)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            for claim in claims:
                board.refresh(claim)

    thread = threading.Thread(target=beat, name="fsfer-claims-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for claim in claims:
            with contextlib.suppress(OSError):  # an unwritable store: the claim goes stale when this process ends
                board.release(claim)
