"""Generic manifest: `manifest.csv` with columns `path,label[,subject][,domain]`.

Any dataset then works with no code: list its images and labels in a CSV. Paths
are relative to the manifest's folder and must stay inside it, so a manifest
cannot make the harness read files elsewhere on the machine.
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import (
    MANIFEST,
    Item,
    Listing,
    Problem,
    csv_header,
    listed_path,
    named_label,
    read_csv,
    register_layout,
)
from fsfer_bench.data.adapters.folder import OWN_DATA
from fsfer_bench.data.dataset import UNKNOWN_SUBJECT
from fsfer_bench.data.options import LoadOptions

VERSION = "1"
LAYOUT = f"{MANIFEST} with columns path,label[,subject][,domain], paths relative to its folder and inside it"


def has_manifest(folder: Path) -> bool:
    header = csv_header(folder / MANIFEST)
    return "path" in header and "label" in header


def scan_manifest(folder: Path, options: LoadOptions, *, name: str, domain: str, version: str = VERSION) -> Listing:
    """List the manifest's rows; a path leaving the folder is refused, an unknown label must be mapped."""
    listing = Listing(name, version, folder, domain, items=[], key_files=[folder / MANIFEST])
    for line, row in read_csv(folder / MANIFEST, ("path", "label"), listing.problems):
        where = f"{MANIFEST}:{line}"
        if not row["path"] or not row["label"]:
            listing.problems.append(Problem("garbled line", where, "empty path or label"))
            continue
        path = listed_path(folder, row["path"], where)
        if isinstance(path, Problem):
            listing.problems.append(path)
            continue
        label = named_label(row["label"], options, where)
        if isinstance(label, Problem):
            listing.problems.append(label)
            continue
        subject = row.get("subject") or UNKNOWN_SUBJECT
        listing.items.append(Item(path, label, subject, domain=row.get("domain") or None))
    return listing


@register_layout("manifest", layout=LAYOUT, source=OWN_DATA, looks_like=has_manifest, generic=True)
def scan_generic_manifest(folder: Path, options: LoadOptions) -> Listing:
    return scan_manifest(folder, options, name="manifest", domain="unknown")
