"""`fsfer-bench data check|preview`: look at a dataset before running on it."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from fsfer_bench.cli import main
from fsfer_bench.cli.common import friendly_errors, plugin_option
from fsfer_bench.cli.options import data_options, image_options, label_options, load_options_from, sources_from
from fsfer_bench.errors import ConfigError


@main.group()
def data() -> None:
    """Check and preview datasets."""


@data.command()
@click.argument("name")
@data_options
@label_options
@click.option("--way", type=click.IntRange(2), help="Check that episodes of this many classes can be drawn.")
@click.option("--shot", type=click.IntRange(1), help="... with this many shots per class.")
@click.option("--query", type=click.IntRange(1), help="... and this many queries per class.")
@image_options  # how --against sees the faces, as a run would
@click.option("--against", metavar="OTHER", help="Also find near-copies of NAME's images in dataset OTHER.")
@click.option("--list-duplicates", metavar="FILE", help="Write every group of byte-identical files to FILE (CSV).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@friendly_errors
@plugin_option
def check(
    name: str, way: int | None, shot: int | None, query: int | None, against: str | None, list_duplicates: str | None,
    fmt: str, **options: Any,
) -> None:  # fmt: skip
    """Count NAME's images per class and subject, and list what is wrong with it.

    Finds unreadable or truncated files, byte-identical duplicates (and those
    under different labels), label lines that are out of range or garbled, and,
    given --way/--shot/--query (unset ones take the run defaults), classes too
    small for such episodes; with --against OTHER, the near-copies of NAME's
    images in OTHER (what a run training on one and testing on the other
    drops from training). Exits 1 when a run would fail on what it found (with
    --strict, also on what a load would only skip), 2 when NAME cannot be read.

    \b
    Example:
      fsfer-bench data check CFEE --data-root ../shared/datasets --way 5 --shot 5 --query 15
      fsfer-bench data check CKplus --against FER2013 --data-root ../shared/datasets
    """
    from fsfer_bench.data.check import check_dataset

    sources, load = sources_from(**options), load_options_from(**options)
    report = check_dataset(name, sources, load, way=way, shot=shot, query=query, against=against)
    if list_duplicates:
        write_text(report.duplicates_csv(), list_duplicates)
    if fmt == "json":
        fields = ("name", "classes", "class_counts", "class_subjects", "subject_counts", "modes", "sizes")
        fields += ("near_duplicates",) if against else ()
        out = {f: getattr(report, f) for f in fields} | {"images": report.images, "fatal": report.fatal}
        out["folder"] = str(report.folder) if report.folder else None
        out["findings"] = [vars(f) for f in report.findings]
        click.echo(json.dumps(out, indent=1))
    else:
        click.echo(report.format())
    if report.fatal:
        sys.exit(1)


def write_text(text: str, out: str) -> None:
    """Write `text` atomically to `out`, or a ConfigError naming the file."""
    from fsfer_bench.files import write_text_atomic

    try:
        write_text_atomic(out, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}; choose another file") from None


def write_image(image: Any, out: str) -> None:
    """Save a PIL image atomically (rendered in memory first), the format chosen by the extension of `out`."""
    from PIL import Image

    from fsfer_bench.files import write_bytes_atomic

    buffer = io.BytesIO()
    try:
        image.save(buffer, format=Image.registered_extensions().get(Path(out).suffix.lower(), ""))
        write_bytes_atomic(out, buffer.getvalue())
    except (OSError, ValueError, KeyError) as exc:  # ValueError/KeyError: an extension PIL cannot write
        raise ConfigError(f"cannot write {out}: {exc}; choose another --out (.png or .jpg)") from None


@data.command()
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Image file to write (PNG, JPEG).")
@data_options
@image_options
@label_options
@friendly_errors
@plugin_option
def preview(name: str, out: str, **options: Any) -> None:
    """Write a contact sheet of NAME's images, a row per class, as the harness will see them.

    \b
    Example:
      fsfer-bench data preview CFEE --out cfee.png --face-align
    """
    from fsfer_bench.data.loading import load_dataset
    from fsfer_bench.data.preview import contact_sheet

    folder = Path(out).resolve().parent
    if not folder.is_dir():  # before a load that may take minutes
        raise ConfigError(f"cannot write {out}: the folder {folder} does not exist")
    dataset = load_dataset(name, sources_from(**options), load_options_from(**options))
    write_image(contact_sheet(dataset), out)
    fallbacks = dataset.notes.get("face_align_fallbacks")
    note = f"; no face found in {fallbacks} image(s), centre-cropped" if fallbacks else ""
    click.echo(f"wrote {out}: {len(dataset)} images of {dataset.name}, {len(dataset.classes)} classes{note}")
