"""EmotioNet: distributed as URL lists, so users download the images and list them in a manifest.

`EmotioNet/manifest.csv` has columns `path,label[,subject]`, paths relative to
that folder; labels are basic or compound expression names (`happy`,
`happily surprised`, ...), read through the vocabulary and `--label-map`.
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.data.adapters.api import MANIFEST, Listing, register_layout
from fsfer_bench.data.adapters.manifest import has_manifest, scan_manifest
from fsfer_bench.data.options import LoadOptions


@register_layout(
    "EmotioNet",
    database="EmotioNet",
    layout=f"{MANIFEST} with columns path,label[,subject] listing the images you downloaded "
    "(labels: basic or compound expression names)",
    source="https://cbcsl.ece.ohio-state.edu/dbform_emotionet.html, Benitez-Quiroz et al. 2016: URL lists, "
    "download the images yourself",
    looks_like=has_manifest,
    generic=True,
)
def scan_emotionet(folder: Path, options: LoadOptions) -> Listing:
    return scan_manifest(folder, options, name="EmotioNet", domain="wild")
