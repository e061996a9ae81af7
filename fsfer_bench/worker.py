"""What a sweep worker runs: one job, that is the cells sharing one training.

A job claims its cells, drops those already in the store, then calls
`experiment.run` once per target split with the shots still to do. Through the
store's model cache the first call trains and the others load that model, so a
job trains once however many shots and splits it evaluates. Each cell ends
done, skipped (done or claimed elsewhere) or failed with a one-line reason; a
failure never stops the job's other splits, except an unwritable store, which
stops everything (`fatal`).

`run_job` is what the process pool and submitit pickle and call, so it and its
arguments are plain module-level values.
"""

from __future__ import annotations

import contextlib
import errno
import traceback
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from fsfer_bench.claims import DEFAULT_LEASE_S, Claim, ClaimBoard, heartbeat, slurm_task
from fsfer_bench.config import RunConfig
from fsfer_bench.errors import FsferError, StoreError, show_warning
from fsfer_bench.plugins import import_plugin_modules
from fsfer_bench.results import Store, iter_records

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
#: Errors that no other cell can escape either (the model cache and checkpoints live in the store too).
_DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


@dataclass(frozen=True)
class Cell:
    """One grid point (method, split, shot, seed, ...): one run config with a single shot, one record."""

    config: RunConfig

    @cached_property
    def hash(self) -> str:
        """The config hash its record carries as `config_hash`."""
        return self.config.hash()

    @cached_property
    def training_settings_hash(self) -> str:
        return self.config.training_settings_hash()

    @property
    def shot(self) -> int:
        return self.config.shots[0]

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.method} {c.split} {self.shot}-shot seed {c.seed}"


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs its jobs; the same for every job of a sweep."""

    out: str
    reuse_training: bool = True
    resume: bool = False
    lease_s: float = DEFAULT_LEASE_S
    plugins: tuple[str, ...] = ()
    threads: int | None = None  # torch threads per worker; None leaves torch's default


@dataclass(frozen=True)
class Job:
    """Cells that share one training (same training hash), run by one worker."""

    cells: tuple[Cell, ...]
    settings: WorkerSettings


@dataclass(frozen=True)
class CellOutcome:
    cell: Cell
    status: str  # done | skipped | failed
    reason: str = ""
    details: str = ""  # a traceback, for the failure file
    fatal: bool = False  # the store cannot be written: the sweep must stop
    record: dict = field(default_factory=dict, compare=False)  # the summary fields of the stored record

    @property
    def reused(self) -> bool | None:
        return (self.record.get("training") or {}).get("reused")


class ClaimLostError(FsferError):
    """Another sweep took over a claim this worker let go stale (it stalled longer than the lease)."""


class ClaimedStore(Store):
    """A store that writes a record only while this worker still holds the cell's claim."""

    def __init__(self, root: str | Path, board: ClaimBoard, claims: dict[str, Claim]) -> None:
        super().__init__(root)
        self.board, self.claims = board, claims

    def write(self, record: dict, episodes=None) -> Path:
        claim = self.claims.get(record.get("config_hash", ""))
        if claim is None or not self.board.owns(claim):
            raise ClaimLostError(
                f"cell {record['config_hash']} was claimed by another sweep while this worker stalled; "
                "its record is left to that sweep"
            )
        return super().write(record, episodes)


def recorded_hashes(root: str | Path, cells: Iterable[Cell] = ()) -> set[str]:
    """Config hashes of the records in the store (only the folders of `cells`' splits and methods, if given)."""
    root = Path(root)
    folders = {root / "records" / c.config.split / c.config.method for c in cells} or {root / "records"}
    hashes = set()
    for folder in folders:
        if folder.is_dir():
            hashes.update(r.config_hash for _, r in iter_records(folder))
    return hashes


def run_job(job: Job) -> list[CellOutcome]:
    """Claim, run and report the cells of `job` (see the module docstring).

    A Slurm task that Slurm requeued (node failure, preemption, `scontrol requeue`,
    its time limit under `--requeue`) resumes its trainings from their checkpoints.
    """
    settings = job.settings
    if slurm_task()[1] > 0:
        settings = replace(settings, resume=True)
    _prepare_process(settings)
    board = ClaimBoard(Path(settings.out) / "claims", settings.lease_s)
    claims, outcomes = _claim(board, job.cells)
    with heartbeat(board, list(claims.values())):
        recorded = recorded_hashes(settings.out, job.cells)
        todo = []
        for cell in job.cells:
            if cell.hash not in claims:
                continue
            if cell.hash in recorded:
                outcomes.append(CellOutcome(cell, SKIPPED, "already in the store"))
            else:
                todo.append(cell)
        store = ClaimedStore(settings.out, board, claims)
        for cells in _by_split(todo):
            outcomes.extend(_run_cells(cells, store, settings))
            if any(o.fatal for o in outcomes):
                break
    return outcomes


def _prepare_process(settings: WorkerSettings) -> None:
    # a worker process has not run the CLI's setup: without this its warnings come in Python's
    # two-line format, with the path and source line of the `warn` call
    warnings.showwarning = show_warning
    import_plugin_modules(settings.plugins)
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)


def _claim(board: ClaimBoard, cells: tuple[Cell, ...]) -> tuple[dict[str, Claim], list[CellOutcome]]:
    """Claim what is free; the cells held elsewhere are skipped. All or nothing on a StoreError."""
    claims, outcomes = {}, []
    try:
        for cell in cells:
            claim = board.acquire(cell.hash)
            if claim is not None:
                claims[cell.hash] = claim
                continue
            holder = board.holder(cell.hash)
            where = holder.describe() if holder else "it just ended"
            outcomes.append(CellOutcome(cell, SKIPPED, f"running elsewhere ({where})"))
    except StoreError:
        for claim in claims.values():  # each on its own: one failed release must not keep the others held
            with contextlib.suppress(OSError):
                board.release(claim)
        raise
    return claims, outcomes


def _by_split(cells: list[Cell]) -> list[list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.config.split, []).append(cell)
    return list(groups.values())


def _run_cells(cells: list[Cell], store: ClaimedStore, settings: WorkerSettings) -> list[CellOutcome]:
    """One `experiment.run` for the shots of one split; every cell fails alike if it raises."""
    from fsfer_bench.experiment import run

    config = replace(cells[0].config, shots=tuple(c.shot for c in cells))
    try:
        records = run(config, store=store, reuse_training=settings.reuse_training, resume=settings.resume)
    except ClaimLostError as exc:
        return _unfinished(cells, store, SKIPPED, str(exc))
    except StoreError as exc:
        return _unfinished(cells, store, FAILED, str(exc), fatal=True)
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            return _unfinished(cells, store, FAILED, f"{type(exc).__name__}: {exc}", details=traceback.format_exc())
        reason = f"cannot write {exc.filename or 'files'} ({exc.strerror}); records already written are intact"
        return _unfinished(cells, store, FAILED, reason, fatal=True)
    except FsferError as exc:
        return _unfinished(cells, store, FAILED, str(exc))
    except Exception as exc:  # a bug in a method must not take down the other cells
        return _unfinished(cells, store, FAILED, f"{type(exc).__name__}: {exc}", details=traceback.format_exc())
    by_hash = {r.config_hash: r for r in records}
    return [CellOutcome(c, DONE, record=by_hash[c.hash].summary()) for c in cells]


def _unfinished(cells: list[Cell], store: Store, status: str, reason: str, **kwargs) -> list[CellOutcome]:
    """Outcomes after `run` raised: the shots it stored before are done, the others `status`."""
    try:
        written = recorded_hashes(store.root, cells)
    except StoreError:
        written = set()
    return [CellOutcome(c, DONE) if c.hash in written else CellOutcome(c, status, reason, **kwargs) for c in cells]
