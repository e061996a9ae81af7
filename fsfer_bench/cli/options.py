"""Click options shared by the commands that load datasets (`run`, `data check`, `data preview`).

Every option defaults to None, so a command can tell a flag that was given
from one that was not, and let a config file fill the rest (flag > file >
defaults). Destinations match RunConfig's fields: data_root, data_paths,
image_size, face_align, align_margin, label_map, strict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from fsfer_bench.data.loading import DataSources
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import parse_label_map
from fsfer_bench.errors import ConfigError, FsferError

F = TypeVar("F", bound=Callable[..., Any])


def parse_data_paths(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--data-path NAME=PATH` (repeatable) as {name: path}."""
    paths = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"malformed --data-path '{item}'; write NAME=PATH, e.g. CFEE=/data/cfee")
        paths[name.strip()] = path.strip()
    return paths


def _click_parse(parse: Callable[[Any], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback that turns our parse errors into click's usage errors (exit 2, one line)."""

    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if not value:
            return None
        try:
            return parse(value)
        except FsferError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def data_options(command: F) -> F:
    """--data-root and --data-path NAME=PATH: where datasets are found."""
    command = click.option(
        "--data-path", "data_paths", multiple=True, metavar="NAME=PATH", callback=_click_parse(parse_data_paths),
        help="Folder of one dataset, overriding the data root; a name fsfer-bench does not know is read by the "
        "layout its folder holds. Repeatable.",
    )(command)  # fmt: skip
    return click.option(
        "--data-root", type=click.Path(file_okay=False), help="Folder holding the datasets.  [env: FSFER_DATA]"
    )(command)


def label_options(command: F) -> F:
    """--label-map and --strict: how labels and bad files are treated."""
    command = click.option(
        "--strict", is_flag=True, default=None,
        help="Fail on unreadable images and bad label lines instead of skipping them.",
    )(command)  # fmt: skip
    return click.option(
        "--label-map", callback=_click_parse(parse_label_map), metavar="NATIVE=NAME,...",
        help="Map label names the vocabulary lacks, e.g. 'Joy=happy,Scared=fearful'.",
    )(command)  # fmt: skip


def image_options(command: F) -> F:
    """--image-size, --face-align and --align-margin: how images are decoded."""
    command = click.option(
        "--align-margin", type=click.FloatRange(0, 3),
        help=f"With --face-align: border around the face, as a fraction of its size.  [default: "
        f"{LoadOptions.align_margin}]",
    )(command)  # fmt: skip
    command = click.option(
        "--face-align/--no-face-align", default=None,
        help="Detect and align faces with dlib (needs: pip install fsfer-bench[faces]).",
    )(command)  # fmt: skip
    return click.option(
        "--image-size", type=click.IntRange(8, 1024), help=f"Square image size in pixels.  [default: "
        f"{LoadOptions.image_size}]"
    )(command)  # fmt: skip


def sources_from(data_root: str | None = None, data_paths: dict[str, str] | None = None, **_: Any) -> DataSources:
    """DataSources from the parsed options (FSFER_DATA where --data-root is not given)."""
    return DataSources.from_settings(data_root, data_paths)


def load_options_from(
    image_size: int | None = None,
    face_align: bool | None = None,
    align_margin: float | None = None,
    label_map: dict[str, str] | None = None,
    strict: bool | None = None,
    **_: Any,
) -> LoadOptions:
    """LoadOptions from the parsed options; those not given keep LoadOptions' defaults."""
    given = {
        "image_size": image_size,
        "face_align": face_align,
        "align_margin": align_margin,
        "label_map": label_map,
        "strict": strict,
    }
    return LoadOptions(**{k: v for k, v in given.items() if v is not None})
