"""Move the committed reference records to the path-independent identity (issue 23 item 1). Run once.

Until then, adapters that list files from a label file (CFEE, RAF-DB, AffectNet,
mini-ImageNet, manifests) put each file's absolute path into `FaceDataset.files`
wherever the data root was relative (the reference was run with `--data-root
../shared/datasets`), so the episode hashes of the CFEE splits and the training
hashes of pools with mini-ImageNet depended on the folder the repository sat in.
Now a file's identity is its path relative to its dataset folder
(`fsfer_bench.data.paths.file_identity`). This script, for every record under the
reference stores:

1. draws the record's test episodes afresh and checks that they are the very
   episodes stored under its old hash (same classes, support and query indices,
   same spec), and that naming the files by the old rule (absolute paths under the
   runs' data root, `--run-root`) gives exactly the record's old episode hash: only
   the name changes, no accuracy does;
2. for a training pool with such a layout (mini-ImageNet under the CK+ reference),
   checks likewise that the old rule gives the record's training hash, and
   recomputes it; the other training hashes cannot have changed and are kept (the
   seed study's older records predate settings that RunConfig has since gained, so
   their hashes could not be recomputed from their configs anyway);
3. rewrites each changed record through the store's writer (atomically, same file)
   with its episode set under the new hash, and deletes an old episode file that no
   record names any more.

Records whose hashes do not change are not written. Run from the repository root:

    python results/reference/migrate_identity.py --data-root PATH/TO/shared/datasets [--check]

`--check` reports what would change and writes nothing; a second run finds nothing to do.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import posixpath
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fsfer_bench.config import RunConfig
from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.data.loading import DataSources, locate
from fsfer_bench.episodes import EpisodeSet
from fsfer_bench.errors import FsferError
from fsfer_bench.experiment import build_pools, load_options, sample_test_episodes, target_pool, training_hash
from fsfer_bench.methods import TrainSettings
from fsfer_bench.results import Record, Store, iter_records
from fsfer_bench.splits import get_split

REFERENCE = Path(__file__).resolve().parent
STORES = ("", "seed_study", "wild", "wild_unaligned")  # under results/reference; "" is the SynFACS/CK+ store


def run_config(record: Record, data_root: str) -> RunConfig:
    """The record's run settings as a RunConfig, reading the data from `data_root`, its shot alone."""
    settings = dict(record.config)
    settings.update(
        train_on=tuple(settings["train_on"]),
        shots=(record.shot,),
        train=TrainSettings(**settings["train"]),
        data_root=data_root,
        data_paths={},
    )
    return RunConfig(**settings)


#: The layouts whose files were named by absolute path where the data root was relative (`listed_path`).
LISTED_FROM_LABEL_FILES = frozenset(
    {"CFEE", "RAF-DB", "RAF-DB-compound", "AffectNet", "miniImageNet", "manifest", "EmotioNet", "MMI", "Oulu-CASIA"}
)


def legacy(pool: FaceDataset, sources: DataSources, run_root: str) -> FaceDataset:
    """`pool` with its files named as the reference runs named them: by absolute path under `run_root` (the
    run's relative data root made absolute) for the layouts listed from label files, relative for the others."""
    if pool.files is None:  # generated data (SynFACS) has no files
        return pool
    listed = set(pool.sources.tolist()) & LISTED_FROM_LABEL_FILES
    under = {source: posixpath.join(run_root, locate(source, sources)[1].name) for source in listed}
    files = [posixpath.join(under[s], f) if s in under else f for s, f in zip(pool.sources.tolist(), pool.files)]
    return dataclasses.replace(pool, files=np.array(files))


class Migration:
    """Recomputes hashes once per distinct pool and spec, checking that the old ones are explained."""

    def __init__(self, data_root: str, run_root: str) -> None:
        self.sources = DataSources.from_settings(data_root)
        self.run_root = run_root
        self.episodes: dict[tuple, EpisodeSet] = {}
        self.trainings: dict[tuple, str] = {}

    def fresh_episodes(self, config: RunConfig, record: Record) -> EpisodeSet:
        """The record's test episodes drawn now, after checking that the old rule gives the record's hash.

        The pool is loaded unaligned: a pool's content id, and so the episodes, leave decoding out."""
        key = (config.split, config.way, config.shots, config.query, config.episodes, config.episode_seed,
               config.subject_disjoint, config.min_per_class, tuple(sorted(config.label_map.items())))  # fmt: skip
        if key not in self.episodes:
            unaligned = dataclasses.replace(config, face_align=False)
            target = target_pool(get_split(config.split), self.sources, load_options(unaligned))
            fresh = sample_test_episodes(unaligned, target)[config.shots[0]]
            old = legacy(target, self.sources, self.run_root).content_id()
            self.episodes[key] = fresh
            self.episodes[(*key, "old")] = dataclasses.replace(fresh, pool_id=old)
        if record.episode_hash not in (self.episodes[(*key, "old")].hash, self.episodes[key].hash):
            raise SystemExit(f"{record.record_id}: the old identity does not give its episode hash; not migrated")
        return self.episodes[key]

    def fresh_training_hash(self, config: RunConfig, record: Record) -> str:
        """The record's training hash under the new identity: its own where no training source was listed
        from label files; else recomputed, once the old rule is seen to give the record's hash."""
        if not set(record.train_on) & LISTED_FROM_LABEL_FILES:
            return str(record.training_hash)
        if config.face_align:  # re-aligning a pool here would take hours; none such is in the reference
            raise SystemExit(f"{record.record_id}: an aligned training pool with {', '.join(record.train_on)}")
        key = (config.training_hash(), tuple(record.train_on), config.split)
        if key not in self.trainings:
            pool = build_pools(config).train  # the pool `run` trains on
            old = training_hash(config, legacy(pool, self.sources, self.run_root))
            self.trainings[key] = training_hash(config, pool)
            self.trainings[(*key, "old")] = old
        if record.training_hash not in (self.trainings[(*key, "old")], self.trainings[key]):  # old, or migrated
            raise SystemExit(f"{record.record_id}: the old identity does not give its training hash; not migrated")
        return self.trainings[key]


def same_episodes(a: EpisodeSet, b: EpisodeSet) -> bool:
    arrays = all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("classes", "support", "query"))
    return arrays and a.spec == b.spec and a.support_rule == b.support_rule


def records(stores: list[Path]) -> Iterator[tuple[Store, Path, Record]]:
    for root in stores:
        for path, record in iter_records(root):
            yield Store(root), path, record


def migrate(stores: list[Path], data_root: str, run_root: str, check: bool) -> int:
    migration = Migration(data_root, run_root)
    changed, retired = 0, set()
    for store, path, record in records(stores):
        config = run_config(record, data_root)
        fresh = migration.fresh_episodes(config, record)
        stored = store.episodes(record.episode_hash)
        if not same_episodes(fresh, stored):
            raise SystemExit(f"{path}: the episodes drawn now differ from those stored under {record.episode_hash}")
        new = dataclasses.replace(
            record, episode_hash=fresh.hash, training_hash=migration.fresh_training_hash(config, record)
        )
        if (new.episode_hash, new.training_hash) == (record.episode_hash, record.training_hash):
            continue
        changed += 1
        print(f"{path}: episodes {record.episode_hash} -> {new.episode_hash}, "
              f"training {record.training_hash} -> {new.training_hash}")  # fmt: skip
        if new.episode_hash != record.episode_hash:
            retired.add((store.root, record.episode_hash))
        if not check:
            written = store.write(new, fresh)
            assert written.resolve() == path.resolve(), f"{written} is not {path}"
    still_named = {(Store(root).root, r.episode_hash) for root in stores for _, r in iter_records(root)}
    for root, old in sorted(retired - still_named if not check else set()):
        (root / "episodes" / f"{old}.npz").unlink()
        print(f"removed {root / 'episodes' / old}.npz (its episodes are stored under their new hash)")
    print(f"{changed} record(s) {'to change' if check else 'changed'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("FSFER_DATA", "../shared/datasets"))
    parser.add_argument(
        "--run-root",
        default="/work/shared/datasets",
        help="the absolute form the reference runs' data root had (`../shared/datasets` from /work/main)",
    )
    parser.add_argument("--check", action="store_true", help="report what would change; write nothing")
    args = parser.parse_args(argv)
    stores = [REFERENCE / s for s in STORES if (REFERENCE / s / "records").is_dir()]
    try:
        return migrate(stores, args.data_root, args.run_root, args.check)
    except FsferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
