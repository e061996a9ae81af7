"""mini-ImageNet (Vinyals et al. 2016; Ravi & Larochelle split): `images/` + `train|val|test.csv`.

A source of natural images for the cross-domain setups (mini-ImageNet -> CK+).
Labels are ImageNet wnids, kept as class names, not expressions. Which split
csv each class came from is kept in `notes["class_partition"]`.
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import Item, Listing, Problem, listed_path, read_csv, register_layout
from fsfer_bench.data.options import LoadOptions

VERSION = "1"
CSVS = ("train.csv", "val.csv", "test.csv")


def label_files(folder: Path) -> list[Path]:
    """The split csvs present; the scan checks their columns and that they are regular files, naming what is wrong."""
    return [folder / c for c in CSVS if (folder / c).exists()]


@register_layout(
    "miniImageNet",
    database="ImageNet",
    folders=("miniImageNet", "mini-imagenet", "mini_imagenet"),
    layout="images/<wnid><n>.jpg + train.csv, val.csv, test.csv (filename,label)",
    source="ImageNet at https://image-net.org under its terms of access, cut with the Ravi & Larochelle "
    "split csvs of https://github.com/twitter/meta-learning-lstm",
    looks_like=lambda folder: (folder / "images").is_dir() and bool(label_files(folder)),
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    listing = Listing("miniImageNet", VERSION, folder, "natural", items=[])
    partition: dict[str, list[str]] = {}
    for path in label_files(folder):
        for line, row in read_csv(path, ("filename", "label"), listing.problems):
            where = f"{path.name}:{line}"
            if not row["filename"] or not row["label"]:
                listing.problems.append(Problem("garbled line", where, "empty filename or label"))
                continue
            image = listed_path(folder, row["filename"], where, "images")
            if isinstance(image, Problem):
                listing.problems.append(image)
                continue
            listing.items.append(Item(image, row["label"]))
            partition.setdefault(path.stem, [])
            if row["label"] not in partition[path.stem]:
                partition[path.stem].append(row["label"])
    listing.notes["class_partition"] = partition
    return listing
