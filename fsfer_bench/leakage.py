"""Leakage between training and test pools, judged by database, not by dataset name.

Two datasets of one database hold the same people, often the same photographs:
RAF-DB's basic and compound sets come from one collection in one folder, CK+
native and CK+48 are one recording, FER2013's CSV and its image export are one
file set. So the guard compares the databases that adapters declare
(`register_dataset(..., database=...)`); a dataset that declares none, such as
a plugin's or one read by a generic layout, is its own database.

Training on the target's database is refused without `--allow-overlap`, except
where a split's own protocol prescribes it (`Split.same_database_train`: RAF_C
trained on RAF-DB basic, as EGS-Net and its successors do). There the run goes
ahead, training images identical to a test image are removed, and the record
says so (`same_database`, `train_duplicates_removed`).

SynFACS-lab and SynFACS-wild are two databases: one renderer, but their people
are drawn from separate identity streams (`synfacs.generator.subject_model`
seeds an identity with its domain), so no wild test face is a lab training
face. What they share is a style of rendering, which is domain shift, not
leakage.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.errors import ConfigError, FsferError
from fsfer_bench.registry import get_dataset
from fsfer_bench.splits import Split


def database_of(name: str) -> str:
    """The database dataset `name` comes from: its adapter's declaration, else the name itself."""
    try:
        adapter = get_dataset(name)
    except FsferError:  # an unregistered dataset, read from its own --data-path
        return name
    return adapter.database or adapter.name


def same_database_sources(names: tuple[str, ...] | list[str], split: Split) -> tuple[str, ...]:
    """The training sources that come from the database of the split's target."""
    target = database_of(split.target)
    return tuple(n for n in names if database_of(n) == target)


def check_training_sources(names: tuple[str, ...] | list[str], split: Split, allow_overlap: bool) -> bool:
    """Whether training shares the target's database; a ConfigError where that is not allowed.

    Allowed with `allow_overlap`, or where every such source is one the
    split's protocol prescribes. `--allow-overlap` where nothing overlaps is
    accepted silently.
    """
    shared = same_database_sources(names, split)
    prescribed = all(n.lower() in {p.lower() for p in split.same_database_train} for n in shared)
    if shared and not (allow_overlap or prescribed):
        database = database_of(split.target)
        whose = "the target's own database" if set(shared) == {database} else f"from {database} like the target"
        raise ConfigError(
            f"training on {', '.join(shared)}, {whose} {split.target}, shares its people with the test pool; "
            "choose other --train-on sources, or pass --allow-overlap to do it anyway"
        )
    return bool(shared)


def same_database_note(split: Split) -> str:
    """One line for `list splits`: the databases it tests and trains on, and whether they are one."""
    target = database_of(split.target)
    line = f"databases: tests on {target}, trains on {', '.join(database_of(n) for n in split.train_on)}"
    if same_database_sources(split.train_on, split):
        return f"{line}; SAME DATABASE"
    if split.same_database_train:
        return (
            f"{line}; same database when trained on {', '.join(split.same_database_train)}, as its protocol prescribes"
        )
    return line


def image_digests(pool: FaceDataset) -> np.ndarray:
    """One digest per image of its decoded pixels, as fixed-width bytes."""
    return np.array([hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest() for x in pool.images])


def drop_duplicates(train: FaceDataset, target: FaceDataset) -> tuple[FaceDataset, int]:
    """The training pool without its images identical to a test image, and how many went.

    Compared on decoded pixels, which byte-identical files always share (same
    adapter, same decoding and crop), so every byte-identical copy is caught;
    so is a copy re-saved losslessly under another name.
    """
    duplicate = np.isin(image_digests(train), image_digests(target))
    removed = int(duplicate.sum())
    return (train.where(~duplicate) if removed else train), removed
