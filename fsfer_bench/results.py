"""The results store: one JSON record per evaluation, written atomically.

Layout under the store root (`--out`, default `results/`):

    records/<split>/<method>/<record id>.json   one per (run, shot)
    episodes/<episode hash>.npz                 the episode sets, shared by content

A record is written to a temporary file in the same folder and renamed into
place, so a crash leaves either the whole record or none, and two runs writing
at once never touch the same file (record ids are unique). Reports, plots and
sweeps read records through `load` and `iter_records`.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from fsfer_bench.episodes import EpisodeSet
from fsfer_bench.errors import FsferWarning, StoreError
from fsfer_bench.files import (
    MAX_ARRAY_BYTES,
    DamagedFileError,
    open_regular,
    probe_writable,
    read_json,
    write_atomic,
    write_json_atomic,
)
from fsfer_bench.record import REQUIRED, SCHEMA, Record, RecordError, new_record_id, utc_now

__all__ = [
    "REQUIRED", "SCHEMA", "Record", "Store", "environment", "frame", "iter_records", "load", "new_record_id",
    "read_record", "utc_now", "write_json_atomic",
]  # fmt: skip


class Store:
    """A folder of records. Only this class writes them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def check_writable(self) -> None:
        """Fail before any work if records could not be saved."""
        try:
            probe_writable(self.root)
        except OSError as exc:
            raise StoreError(
                f"cannot write results to {self.root} ({exc.strerror or exc}); choose a writable folder with --out"
            ) from exc

    def write(self, record: Record | dict, episodes: EpisodeSet | None = None) -> Path:
        """Store `record` (and its episode set, once per hash); returns the record's path.

        A dict is read through `Record.from_dict` first, so nothing reaches the store that
        `load` would refuse.
        """
        record = record if isinstance(record, Record) else Record.from_dict(record)
        try:
            if episodes is not None:
                self._write_episodes(episodes)
            path = (
                self.root
                / "records"
                / _folder(record.split)
                / _folder(record.method)
                / f"{_folder(record.record_id)}.json"
            )
            write_json_atomic(path, record.to_dict())
        except OSError as exc:
            raise StoreError(
                f"cannot write a record under {self.root} ({exc.strerror or exc}); records already written are intact"
            ) from exc
        return path

    def _write_episodes(self, episodes: EpisodeSet) -> None:
        path = self.root / "episodes" / f"{episodes.hash}.npz"
        if path.exists():
            return
        write_atomic(path, episodes.save)  # a full disk leaves no hidden partial file behind

    def episodes(self, episode_hash: str) -> EpisodeSet:
        with open_regular(self.root / "episodes" / f"{episode_hash}.npz", MAX_ARRAY_BYTES) as f:
            return EpisodeSet.load(f)


def _folder(name: str) -> str:
    """`name` as one folder of the store; refused if it could lead anywhere else (registries check names too)."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0\n") or ".." in name:
        raise StoreError(f"cannot store a record under the name {name!r}: it is not a plain folder name")
    return name


@functools.cache
def environment() -> dict:
    """Versions and the git commit, so a record says what produced it.

    Read once per process, at its first run, so that a commit made while a long
    sweep is running is not credited with records of code loaded before it.
    """
    import torch

    from fsfer_bench import __version__

    return {
        "versions": {
            "fsfer_bench": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "platform": platform.platform(),
        },
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def iter_records(root: str | Path) -> Iterator[tuple[Path, Record]]:
    """Every usable record under `root`, upgraded to the current schema.

    A record that cannot be used (torn JSON, wrong field types, accuracies outside
    [0, 100], a newer schema) is skipped with a warning naming its file: one bad
    record must not stop a report over the whole store.
    """
    root = Path(root)
    if not root.exists():
        raise StoreError(f"results folder {root} does not exist; run `fsfer-bench run ... --out {root}` first")
    base = root / "records" if (root / "records").is_dir() else root
    for path in sorted(base.rglob("*.json")):
        try:
            record = Record.from_dict(read_json(path, expect=object))
        except DamagedFileError as exc:
            warnings.warn(f"skipped corrupt record {path} ({exc.reason})", FsferWarning, stacklevel=2)
            continue
        except RecordError as exc:
            warnings.warn(f"skipped {path}: {exc}", FsferWarning, stacklevel=2)
            continue
        yield path, record


def read_record(path: str | Path) -> Record:
    """One record file, upgraded; `StoreError` naming the file if it cannot be used."""
    try:
        return Record.from_dict(read_json(path, expect=object))
    except (DamagedFileError, RecordError, FileNotFoundError) as exc:
        raise StoreError(f"cannot read record {path} ({exc})") from exc


def _row(path: Path, r: Record) -> dict:
    """The DataFrame row of a record: the columns that select and group, and the record itself."""
    return {
        "method": r.row_name,  # a variant of a method's options is a row of its own
        "split": r.split,
        "way": r.way,
        "shot": r.shot,
        "query": r.query,
        "seed": r.seed,
        "episode_seed": r.episode_seed,
        "n_episodes": r.n_episodes,
        "mean": r.mean,
        "ci95": np.nan if r.ci95 is None else r.ci95,
        "episode_hash": r.episode_hash,
        "train_on": ",".join(r.train_on),
        "image_size": r.image_size,
        "config_hash": r.config_hash,
        "record_id": r.record_id or path.stem,
        "created": r.created,
        "accuracies": np.asarray(r.accuracies, dtype=np.float64),
        "path": str(path),
        "record": r,
    }


def load(path: str | Path = "runs") -> pd.DataFrame:
    """All records under `path` as a DataFrame, one row per record (accuracies in percent).

    The `record` column holds each row's `Record`; the other columns are the ones
    selections and groupings need.
    """
    runs = frame(iter_records(path))
    if runs.empty:
        raise StoreError(f"no records under {path}; run `fsfer-bench run ... --out {path}` first")
    return runs


def frame(records: Iterable[tuple[str | Path, Record]]) -> pd.DataFrame:
    """(path, record) pairs as the DataFrame `load` gives, e.g. for records made in memory."""
    return pd.DataFrame([_row(Path(p), r) for p, r in records])
