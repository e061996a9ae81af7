"""Claims: which worker runs which sweep cell, so that two sweeps on one store never run a cell twice.

A claim on key K is a file `<root>/K.<generation>`. It is written whole to a
private draft first (through `files.write_json_atomic`: fsynced, mode from the
umask so collaborators on a shared store can read it), then hard-linked to its
name, which the file system grants to exactly one process (like O_EXCL, and
safe on NFS); where hard links are refused it is created with O_EXCL instead.
It holds the owner's pid, host, Slurm task (if any) and a random token; its
mtime is the owner's heartbeat, refreshed while the work goes on.

A claim is stale when its heartbeat is older than the lease, when its owner ran
on this host and its pid is gone, when it is an earlier run of this same Slurm
task (requeued: Slurm runs one copy of a task at a time), or when it cannot be
read at all (garbage is no one's claim: a warning names the file and it is
superseded at once). A heartbeat dated in the future by more than the lease
(clock skew on a shared file system, or a file touched by hand) cannot be
trusted: it is stale too, with a warning, rather than holding its cell until
that date; a smaller skew counts as a fresh heartbeat. A stale claim is never deleted to be
replaced (two processes could both delete and both recreate); it is superseded:
whoever creates generation g+1 first (again O_EXCL) owns K, and the owner of g
sees, at its next heartbeat or before it writes, that it lost the claim. No
lock outlives its process: a killed worker's claims go stale at once on its own
host, and after the lease elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket
import stat
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fsfer_bench.errors import FsferWarning, StoreError
from fsfer_bench.files import DamagedFileError, dumps_strict, read_json, umask_mode, write_json_atomic

DEFAULT_LEASE_S = 300.0
#: An empty claim younger than this may still be being written (only where hard links are refused).
_WRITE_GRACE_S = 5.0
#: errnos of a file system that cannot hard-link (FAT, some FUSE and SMB mounts): fall back to O_EXCL.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


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
    job: str | None = None  # the Slurm task that made it ("<array job>_<index>" or the job id)
    restart: int = 0  # SLURM_RESTART_COUNT of that run of the task
    damaged: bool = False  # unreadable: garbage, not a claim

    def describe(self) -> str:
        who = f"pid {self.pid} on {self.host}" if self.pid is not None else "a worker starting up"
        return f"{who}, heartbeat {self.age_s:.0f} s ago"


def slurm_task() -> tuple[str | None, int]:
    """This process's Slurm task id ("<array job>_<index>", or the job id) and restart count; (None, 0) outside."""
    env = os.environ
    array, index = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{index}" if array and index else env.get("SLURM_JOB_ID")
    try:
        restart = int(env.get("SLURM_RESTART_COUNT") or 0)
    except ValueError:
        restart = 0
    return job, restart


class ClaimBoard:
    """The claims of one store (`<store>/claims`); `lease_s` is how long a silent claim is honoured."""

    def __init__(self, root: str | Path, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.root = Path(root)
        self.lease_s = float(lease_s)
        self.host = socket.gethostname()
        self.job, self.restart = slurm_task()

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

    def latest(self, key: str) -> Holder | None:
        """Whoever claimed `key` last, stale or not (None: no readable claim); for watching heartbeats."""
        latest = self._latest(key)
        holder = self._read_holder(latest[1], warn=False) if latest is not None else None
        return None if holder is None or holder.damaged else holder

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
        info = {"pid": os.getpid(), "host": self.host, "token": token, "created": time.time(), "job": self.job,
                "restart": self.restart}  # fmt: skip
        draft = self.root / f".{key}.{token}.draft"  # a dot name: never taken for a generation
        try:
            write_json_atomic(draft, info)
            try:
                os.link(draft, path)
            except FileExistsError:
                return None  # another worker got there first
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                if not self._create_exclusive(path, info):
                    return None
        except OSError as exc:
            raise self._unwritable(exc) from exc
        finally:
            with contextlib.suppress(OSError):
                draft.unlink(missing_ok=True)
        return Claim(key, path, token)

    @staticmethod
    def _create_exclusive(path: Path, info: dict) -> bool:
        """O_EXCL creation, where hard links are refused; False when another worker got there first."""
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, umask_mode())
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w") as f:
                f.write(dumps_strict(info))
        except OSError:  # a full disk: do not leave an empty claim behind
            path.unlink(missing_ok=True)
            raise
        return True

    def _unwritable(self, exc: OSError) -> StoreError:
        return StoreError(
            f"cannot claim cells under {self.root} ({exc.strerror or exc}); make the results folder writable"
        )

    def _remove_older(self, key: str, generation: int) -> None:
        for g, path in self._generations(key):
            if g < generation:
                with contextlib.suppress(OSError):  # a folder in its place: not a claim, left alone
                    path.unlink(missing_ok=True)

    def _is_stale(self, path: Path) -> bool:
        holder = self._read_holder(path)
        if holder is None or holder.damaged or holder.age_s > self.lease_s:
            return True
        if holder.host == self.host and holder.pid is not None and not pid_alive(holder.pid):
            return True
        # An earlier run of this very Slurm task, before Slurm requeued it (it runs one copy at a time).
        return self.job is not None and holder.job == self.job and holder.restart < self.restart

    def _read_holder(self, path: Path, warn: bool = True) -> Holder | None:
        """The claim's holder (None if the file is gone); `damaged` where it is garbage, named in a warning."""
        try:
            age = self._age(path)
            info = path.stat()
            if stat.S_ISREG(info.st_mode) and info.st_size == 0 and age < _WRITE_GRACE_S:
                return Holder(None, None, age)  # being written (O_EXCL fallback): judged by its age
            info = read_json(path)
            holder = Holder(info["pid"], info["host"], age, info.get("job"), int(info.get("restart") or 0))
            if not isinstance(holder.pid, int) or not isinstance(holder.host, str) or "token" not in info:
                raise DamagedFileError(path, "not a claim")
        except FileNotFoundError:
            return None
        except (DamagedFileError, KeyError, TypeError, ValueError) as exc:
            if warn:
                reason = exc.reason if isinstance(exc, DamagedFileError) else "not a claim"
                warnings.warn(f"claim file {path} is damaged ({reason}); treated as stale: it holds no cell",
                              FsferWarning, stacklevel=3)  # fmt: skip
            return Holder(None, None, age, damaged=True)
        return holder

    def _age(self, path: Path) -> float:
        """Seconds since the claim's heartbeat; past the lease (stale) when it is dated too far in the future."""
        ahead = path.stat().st_mtime - time.time()
        if ahead <= self.lease_s:
            return max(-ahead, 0.0)
        warnings.warn(f"claim file {path} is dated {ahead:.0f} s in the future (clock skew?); treated as stale, "
                      f"as if its heartbeat were older than the lease ({self.lease_s:.0f} s)", FsferWarning,
                      stacklevel=4)  # fmt: skip
        return math.inf

    def _token(self, path: Path) -> str | None:
        try:
            return read_json(path).get("token")
        except (OSError, DamagedFileError):
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
