"""MMI and Oulu-CASIA: lab sequence datasets read through the generic manifest or class folders.

Both ship as sequences in layouts that vary between releases (MMI as videos
with XML sessions, Oulu-CASIA as frame folders per lighting condition), so the
harness reads them once the user has picked the peak frames into a
`manifest.csv` (with subjects, so that support and query stay subject-disjoint)
or into class folders; docs/datasets.md gives the recipe.
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import MANIFEST, Listing, register_layout
from fsfer_bench.data.adapters.folder import looks_like_class_folders, scan_class_folders
from fsfer_bench.data.adapters.manifest import has_manifest, scan_manifest
from fsfer_bench.data.options import LoadOptions

LAYOUT = f"{MANIFEST} (path,label,subject) of the peak frames, or one sub-folder per class (see docs/datasets.md)"


def looks_like_manifest_or_folders(folder: Path) -> bool:
    return has_manifest(folder) or looks_like_class_folders(folder)


def scan_manifest_or_folders(folder: Path, options: LoadOptions, *, name: str, domain: str) -> Listing:
    """The manifest where there is one (it can name subjects), else the class folders."""
    if has_manifest(folder):
        return scan_manifest(folder, options, name=name, domain=domain)
    return scan_class_folders(folder, options, name=name, domain=domain)


@register_layout(
    "MMI",
    database="MMI",
    layout=LAYOUT,
    source="https://mmifacedb.eu, Pantic et al. 2005, under its end user licence agreement",
    looks_like=looks_like_manifest_or_folders,
    generic=True,
)
def scan_mmi(folder: Path, options: LoadOptions) -> Listing:
    return scan_manifest_or_folders(folder, options, name="MMI", domain="lab")


@register_layout(
    "Oulu-CASIA",
    database="Oulu-CASIA",
    folders=("Oulu-CASIA", "OuluCASIA", "Oulu_CASIA"),
    layout=LAYOUT,
    source="the University of Oulu, Center for Machine Vision and Signal Analysis: Oulu-CASIA NIR&VIS, "
    "Zhao et al. 2011, by licence agreement",
    looks_like=looks_like_manifest_or_folders,
    generic=True,
)
def scan_oulu(folder: Path, options: LoadOptions) -> Listing:
    return scan_manifest_or_folders(folder, options, name="Oulu-CASIA", domain="lab")
