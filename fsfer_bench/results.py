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
import json
import os
import platform
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fsfer_bench.episodes import EpisodeSet
from fsfer_bench.errors import FsferWarning, StoreError
from fsfer_bench.files import write_json_atomic

SCHEMA = 1
#: Fields every record must have to be read at all; the rest may be missing in old records.
REQUIRED = ("method", "split", "way", "shot", "query", "seed", "accuracies", "episode_hash")


class Store:
    """A folder of records. Only this class writes them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def check_writable(self) -> None:
        """Fail before any work if records could not be saved."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StoreError(
                f"cannot write results to {self.root} ({exc.strerror or exc}); choose a writable folder with --out"
            ) from exc

    def write(self, record: dict, episodes: EpisodeSet | None = None) -> Path:
        """Store `record` (and its episode set, once per hash); returns the record's path."""
        try:
            if episodes is not None:
                self._write_episodes(episodes)
            path = self.root / "records" / record["split"] / record["method"] / f"{record['record_id']}.json"
            write_json_atomic(path, record)
        except OSError as exc:
            raise StoreError(
                f"cannot write a record under {self.root} ({exc.strerror or exc}); records already written are intact"
            ) from exc
        return path

    def _write_episodes(self, episodes: EpisodeSet) -> None:
        path = self.root / "episodes" / f"{episodes.hash}.npz"
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.npz")
        episodes.save(tmp)
        os.replace(tmp, path)

    def episodes(self, episode_hash: str) -> EpisodeSet:
        return EpisodeSet.load(self.root / "episodes" / f"{episode_hash}.npz")


def new_record_id(method: str, split: str, shot: int, seed: int) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{method}_{split}_{shot}shot_seed{seed}_{stamp}_{uuid.uuid4().hex[:8]}"


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


def iter_records(root: str | Path) -> Iterator[tuple[Path, dict]]:
    """Every readable record under `root`; corrupt ones are skipped with a warning naming the file."""
    root = Path(root)
    if not root.exists():
        raise StoreError(f"results folder {root} does not exist; run `fsfer-bench run ... --out {root}` first")
    base = root / "records" if (root / "records").is_dir() else root
    for path in sorted(base.rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipped corrupt record {path} ({exc})", FsferWarning, stacklevel=2)
            continue
        if not isinstance(record, dict):
            warnings.warn(f"skipped {path}: not a record", FsferWarning, stacklevel=2)
            continue
        missing = [f for f in REQUIRED if f not in record]
        if missing:
            warnings.warn(
                f"skipped {path}: record of schema {record.get('schema', 'unknown')} lacks field '{missing[0]}'",
                FsferWarning,
                stacklevel=2,
            )
            continue
        yield path, record


def _row(path: Path, r: dict) -> dict:
    from fsfer_bench.stats import summarise

    accuracies = np.asarray(r["accuracies"], dtype=np.float64)
    s = summarise(accuracies)
    training = r.get("training") or {}
    return {
        "method": r["method"],
        "split": r["split"],
        "way": r["way"],
        "shot": r["shot"],
        "query": r["query"],
        "seed": r["seed"],
        "n_episodes": len(accuracies),
        # recomputed from the stored accuracies, so old records and new agree
        "mean": s.mean,
        "ci95": s.ci95,
        "ci95_z": s.ci95_z,
        "std": s.std,
        "episode_hash": r["episode_hash"],
        "train_on": ",".join(r.get("train_on") or []),
        "backbone": (r.get("config") or {}).get("backbone"),
        "image_size": (r.get("config") or {}).get("image_size"),
        "config_hash": r.get("config_hash"),
        "run_id": r.get("run_id"),
        "record_id": r.get("record_id", path.stem),
        "created": r.get("created"),
        "train_seconds": training.get("seconds"),
        "eval_seconds": (r.get("evaluation") or {}).get("seconds"),
        "accuracies": accuracies,
        "path": str(path),
    }


def load(path: str | Path = "results") -> pd.DataFrame:
    """All records under `path` as a DataFrame, one row per record (accuracies in percent)."""
    rows = [_row(p, r) for p, r in iter_records(path)]
    if not rows:
        raise StoreError(f"no records under {path}; run `fsfer-bench run ... --out {path}` first")
    return pd.DataFrame(rows)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
