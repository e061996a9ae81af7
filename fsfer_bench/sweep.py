"""Sweeps: a grid of methods x splits x shots x seeds, one record per cell, resumable and parallel.

    from fsfer_bench.sweep import Sweep, SweepOptions, plan_sweep, run_sweep, make_executor
    sweep = Sweep(methods=("protonet", "egsnet"), splits=("SynFACS_C",), shots=(1, 5), seeds=(0, 1, 2))
    plan = plan_sweep(sweep)                 # which cells run, which are skipped and why
    summary = run_sweep(plan, make_executor(SweepOptions(jobs=2), plan.out))

A cell is one (method, split, shot, seed) with the settings every cell shares;
it is identified by its config hash, which its record carries, so cells already
in the store are skipped and a sweep run again resumes where it stopped. Cells
with the same training hash form one job that trains once (see `worker`).
Workers claim cells (see `claims`) so that two sweeps on one store never run a
cell twice. A failed cell is written to `<store>/failures/<cell hash>.json`
and does not stop the others; `retry_failed` runs only those. An unwritable
store stops the sweep with a StoreError; records written before stay intact.

The sweep file is a run config (`[run]`, `[train]`, `[data]`, `[method.<name>]`
apply to every cell) with a `[sweep]` table; see docs/sweeps.md.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fsfer_bench.claims import DEFAULT_LEASE_S, ClaimBoard
from fsfer_bench.config import _check_keys, config_table, parse_shots, read_toml, resolve_config
from fsfer_bench.errors import ConfigError, FsferWarning, StoreError
from fsfer_bench.evaluate import Progress, no_progress
from fsfer_bench.executors import (
    EXECUTORS,
    Executor,
    JobResult,
    Terminated,
    local_executor,
    submitit_executor,
    terminated_by_signals,
)
from fsfer_bench.files import DamagedFileError, read_json, write_json_atomic
from fsfer_bench.plugins import import_plugin_modules
from fsfer_bench.results import Store
from fsfer_bench.splits import get_split
from fsfer_bench.worker import DONE, FAILED, SKIPPED, Cell, CellOutcome, Job, WorkerSettings
from fsfer_bench.worker import recorded_hashes as recorded_hashes


@dataclass(frozen=True)
class Sweep:
    """The grid, and the settings every cell shares (flags > the sweep file's tables > defaults)."""

    methods: tuple[str, ...]
    splits: tuple[str, ...]
    shots: tuple[int, ...] = (1, 5)
    seeds: tuple[int, ...] = (0,)
    train_on: tuple[str, ...] = ()  # empty: each split's own training sources
    flags: dict[str, Any] = field(default_factory=dict)  # run settings, as `resolve_config` takes them
    tables: dict[str, Any] = field(default_factory=dict)  # the sweep file's [run], [train], [data], [method.*]
    assignments: tuple[str, ...] = ()  # --set KEY=VALUE
    plugins: tuple[str, ...] = ()  # modules every worker imports first (datasets, splits, methods)

    def cells(self) -> list[Cell]:
        """Every cell of the grid, once, ordered so that cells sharing a training are neighbours."""
        if not self.methods or not self.splits:
            raise ConfigError("a sweep needs methods and splits: give --methods and --splits, or [sweep] lists")
        import_plugin_modules(self.plugins)
        cells = [
            self.cell(method, split, shot, seed)
            for method in self.methods
            for seed in self.seeds
            for split in self.splits
            for shot in self.shots
        ]
        return list({c.hash: c for c in cells}.values())

    def cell(self, method: str, split: str, shot: int, seed: int) -> Cell:
        # The training sources are written out: with the split's default left implicit, two splits
        # trained on different sources would share a training hash, and wrongly share a model.
        train_on = self.train_on or get_split(split).train_on
        flags = {**self.flags, "method": method, "split": split, "shots": (shot,), "seed": seed, "train_on": train_on}
        return Cell(resolve_config(flags, self.tables, list(self.assignments)))


@dataclass(frozen=True)
class SlurmSettings:
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int | None = None
    timeout: int = 60  # minutes per job
    mem_gb: float | None = None
    folder: str | None = None  # submitit's job files and logs; default <store>/slurm
    poll: float = 10.0  # seconds between two looks at the tasks (result files, squeue, heartbeats)


@dataclass(frozen=True)
class SweepOptions:
    """How the sweep runs; none of this changes a result."""

    executor: str = "local"  # local | slurm | submitit-local
    jobs: int | None = None  # local: worker processes (default 1); slurm: array tasks at once
    lease: float = DEFAULT_LEASE_S  # seconds before a silent claim counts as abandoned
    reuse_training: bool = True
    resume: bool = False
    retry_failed: bool = False
    requeue: bool = False  # slurm: a task Slurm requeues (node failure, preemption, time limit) resumes
    slurm: SlurmSettings = field(default_factory=SlurmSettings)


# -- reading a sweep from flags and a file

_GRID_KEYS = ("methods", "splits", "shots", "seeds", "train_on", "plugins")
_OPTION_KEYS = tuple(f.name for f in fields(SweepOptions) if f.name != "slurm")
_SLURM_KEYS = tuple(f.name for f in fields(SlurmSettings))


def load_sweep(
    flags: dict[str, Any] | None = None, config_file: str | Path | None = None, assignments: Iterable[str] = ()
) -> tuple[Sweep, SweepOptions]:
    """The sweep and its options from flags (None: not given) over the file's `[sweep]` table.

    Flags named like `[sweep]` keys (methods, jobs, ...) or `[sweep.slurm]` keys
    (partition, timeout, ...) set those; any other flag is a run setting for every cell.
    """
    file = read_toml(config_file) if config_file else {}
    table = config_table(file.pop("sweep", None), "[sweep]")
    slurm = config_table(table.pop("slurm", None), "[sweep.slurm]")
    _check_keys(table, set(_GRID_KEYS + _OPTION_KEYS) - {"retry_failed"}, "[sweep]")
    _check_keys(slurm, set(_SLURM_KEYS), "[sweep.slurm]")
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    table.update({k: given.pop(k) for k in list(given) if k in _GRID_KEYS + _OPTION_KEYS})
    slurm.update({k: given.pop(k) for k in list(given) if k in _SLURM_KEYS})
    sweep = Sweep(
        methods=_names(table.get("methods"), "methods"),
        splits=_names(table.get("splits"), "splits"),
        shots=parse_shots(table.get("shots", (1, 5))),
        seeds=_seeds(table.get("seeds", (0,))),
        train_on=_train_on(table.get("train_on")),
        flags=given,
        tables=file,
        assignments=tuple(assignments),
        plugins=_names(table.get("plugins"), "plugins"),
    )
    return sweep, _options(table, slurm)


def _names(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"[sweep] {key} must be a list of names or a comma-separated string, got {value!r}")
    return tuple(dict.fromkeys(v.strip() for v in items if v.strip()))


def _train_on(value: Any) -> tuple[str, ...]:
    """The training sources every cell uses; () when not given (each split's own), never an empty list given."""
    names = _names(value, "train_on")
    if value is not None and not names:
        raise ConfigError(
            f"train_on {value!r} names no source; give names, e.g. --train-on CKplus,JAFFE, or leave it out for each "
            "split's own"
        )
    return names


def _seeds(value: Any) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else [value] if isinstance(value, int) else value
    try:
        seeds = tuple(dict.fromkeys(int(str(s).strip()) for s in items))
    except (TypeError, ValueError):
        seeds = ()
    if not seeds:
        raise ConfigError(f"malformed seed list '{value}'; give integers, e.g. --seeds 0,1,2")
    return seeds


def _options(table: dict, slurm: dict) -> SweepOptions:
    options = SweepOptions(**{k: table[k] for k in _OPTION_KEYS if k in table}, slurm=SlurmSettings(**slurm))
    if options.executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{options.executor}' (valid: {', '.join(EXECUTORS)})")
    if options.jobs is not None and (not isinstance(options.jobs, int) or options.jobs < 1):
        raise ConfigError(f"jobs must be a positive integer, got {options.jobs!r}")
    for name, value in (("lease", options.lease), ("[sweep.slurm] poll", options.slurm.poll)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    for key in ("reuse_training", "resume", "retry_failed", "requeue"):
        if not isinstance(getattr(options, key), bool):
            raise ConfigError(f"[sweep] {key} must be true or false, got {getattr(options, key)!r}")
    return options


# -- planning: what runs, what is skipped


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    run: bool
    note: str = ""  # why it is skipped, or that it failed before


@dataclass(frozen=True)
class SweepPlan:
    out: Path
    cells: tuple[PlannedCell, ...]
    plugins: tuple[str, ...] = ()

    @property
    def to_run(self) -> list[Cell]:
        return [p.cell for p in self.cells if p.run]

    @property
    def skipped(self) -> list[PlannedCell]:
        return [p for p in self.cells if not p.run]


def plan_sweep(sweep: Sweep, *, retry_failed: bool = False, lease: float = DEFAULT_LEASE_S) -> SweepPlan:
    """Each cell of `sweep`, marked to run or skipped (already stored, running elsewhere, not failed before)."""
    cells = sweep.cells()
    out = Path(cells[0].config.out)
    recorded = recorded_hashes(out)
    failures = read_failures(out)
    board = ClaimBoard(out / "claims", lease)
    return SweepPlan(out, tuple(_plan_cell(c, recorded, failures, board, retry_failed) for c in cells), sweep.plugins)


def _plan_cell(cell: Cell, recorded: set[str], failures: dict[str, dict], board: ClaimBoard,
               retry_failed: bool) -> PlannedCell:  # fmt: skip
    if cell.hash in recorded:
        return PlannedCell(cell, False, "already in the store")
    if retry_failed and cell.hash not in failures:
        return PlannedCell(cell, False, "did not fail before (--retry-failed)")
    holder = board.holder(cell.hash)
    if holder is not None:
        return PlannedCell(cell, False, f"running elsewhere ({holder.describe()})")
    failed = failures.get(cell.hash)
    return PlannedCell(cell, True, f"failed before: {failed['reason']}" if failed else "")


def training_groups(cells: list[Cell], reuse_training: bool = True) -> list[list[Cell]]:
    """Cells sharing a training hash, together (one cell per group without reuse)."""
    if not reuse_training:
        return [[c] for c in cells]
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.training_settings_hash, []).append(cell)
    return list(groups.values())


# -- failures


def failure_path(out: str | Path, cell_hash: str) -> Path:
    return Path(out) / "failures" / f"{cell_hash}.json"


def read_failures(out: str | Path) -> dict[str, dict]:
    """The failures recorded under `out`, by cell hash.

    A damaged failure file still says that its cell failed (it is only written
    for a failed cell): a warning names it, and `--retry-failed` reruns the cell.
    """
    failures = {}
    for path in sorted((Path(out) / "failures").glob("*.json")):
        try:
            failure = read_json(path)
            if not isinstance(failure.get("reason"), str):
                raise DamagedFileError(path, "no reason")
        except FileNotFoundError:
            continue  # removed since the listing: its cell is done
        except DamagedFileError as exc:
            warnings.warn(f"{exc}; its cell counts as failed (--retry-failed reruns it)", FsferWarning, stacklevel=2)
            failure = {"reason": f"unknown (failure file damaged: {exc.reason})"}
        failures[path.stem] = failure
    return failures


def _note_outcome(out: Path, outcome: CellOutcome) -> None:
    """Keep `<store>/failures` in step: written for a failed cell, removed once the cell is done."""
    path = failure_path(out, outcome.cell.hash)
    try:
        if outcome.status == DONE:
            path.unlink(missing_ok=True)
        elif outcome.status == FAILED:
            write_json_atomic(path, _failure(outcome))
    except OSError:
        pass  # the store is not writable: the sweep reports that itself


def _failure(outcome: CellOutcome) -> dict:
    c = outcome.cell.config
    return {
        "cell": outcome.cell.label, "config_hash": outcome.cell.hash, "method": c.method, "split": c.split,
        "shot": outcome.cell.shot, "seed": c.seed, "reason": outcome.reason, "details": outcome.details,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip


# -- running


def make_executor(options: SweepOptions, out: str | Path, poll_s: float | None = None) -> Executor:
    """The executor `options` name: local (in this process or a process pool), slurm, or submitit-local."""
    if options.executor == "local":
        return local_executor(options.jobs or 1)
    s = options.slurm
    poll_s = s.poll if poll_s is None else poll_s
    return submitit_executor(
        s.folder or Path(out) / "slurm", jobs=options.jobs or 256, partition=s.partition, gpus_per_job=s.gpus_per_job,
        cpus_per_job=s.cpus_per_job, timeout_min=s.timeout, mem_gb=s.mem_gb,
        cluster="slurm" if options.executor == "slurm" else "local", poll_s=poll_s, lease_s=options.lease,
        requeue=options.requeue,
    )  # fmt: skip


@dataclass(frozen=True)
class SweepSummary:
    outcomes: tuple[CellOutcome, ...]
    planned_skips: tuple[PlannedCell, ...]

    @property
    def done(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == DONE]

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def skipped(self) -> int:
        return len(self.planned_skips) + sum(o.status == SKIPPED for o in self.outcomes)


def run_sweep(
    plan: SweepPlan,
    executor: Executor,
    options: SweepOptions | None = None,
    *,
    progress: Progress = no_progress,
    on_outcome: Callable[[CellOutcome], None] | None = None,
) -> SweepSummary:
    """Run the cells `plan` marks, one job per training; `on_outcome` hears of each cell as its job ends."""
    options = options or SweepOptions()
    Store(plan.out).check_writable()
    settings = WorkerSettings(
        out=str(plan.out.resolve()), reuse_training=options.reuse_training, resume=options.resume,
        lease_s=options.lease, plugins=plan.plugins, threads=executor.worker_threads,
    )  # fmt: skip
    jobs = [Job(tuple(cells), settings) for cells in training_groups(plan.to_run, options.reuse_training)]
    outcomes: list[CellOutcome] = []
    with terminated_by_signals():
        stream = _cell_outcomes(executor.run(jobs))
        try:
            for outcome in progress(stream, desc="sweep", total=len(plan.to_run)):
                _note_outcome(plan.out, outcome)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
                if outcome.fatal:
                    break
        except Terminated as exc:
            done = sum(o.status == DONE for o in outcomes)
            warnings.warn(f"the sweep was stopped by {exc.signal_name} ({done} cell(s) done in this run); its "
                          "claims are released: run it again to resume", FsferWarning, stacklevel=2)  # fmt: skip
            raise
        finally:
            stream.close()
    _raise_if_fatal(outcomes)
    return SweepSummary(tuple(outcomes), tuple(plan.skipped))


def _cell_outcomes(results: Iterator[JobResult]) -> Iterator[CellOutcome]:
    try:
        for job, result in results:
            if isinstance(result, BaseException):
                yield from lost_job_outcomes(job, result)
            else:
                yield from result
    finally:
        if hasattr(results, "close"):
            results.close()  # cancels the jobs not started


def lost_job_outcomes(job: Job, error: BaseException) -> Iterator[CellOutcome]:
    """Outcomes of a job that could not report (its worker or Slurm task died): the cells it stored are done."""
    fatal = isinstance(error, StoreError)
    try:
        written = set() if fatal else recorded_hashes(job.settings.out, job.cells)
    except StoreError:
        written = set()
    for cell in job.cells:
        yield CellOutcome(cell, DONE) if cell.hash in written else CellOutcome(cell, FAILED, str(error), fatal=fatal)


def _raise_if_fatal(outcomes: list[CellOutcome]) -> None:
    fatal = next((o for o in outcomes if o.fatal), None)
    if fatal is not None:
        done = sum(o.status == DONE for o in outcomes)
        raise StoreError(
            f"{fatal.reason}; the sweep stopped ({done} cell(s) done in this run): "
            "free space or make the results folder writable, then run the sweep again to resume"
        )
