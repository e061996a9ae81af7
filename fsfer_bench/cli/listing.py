"""`fsfer-bench list methods|splits|datasets`."""

from __future__ import annotations

import click

from fsfer_bench.cli import main
from fsfer_bench.cli.common import friendly_errors, plugin_option


def _first_line(obj: object) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


@main.command(name="list")
@click.argument("what", type=click.Choice(["methods", "splits", "datasets"]))
@friendly_errors
@plugin_option
def list_(what: str) -> None:
    """List the registered methods, splits or datasets."""
    {"methods": _methods, "splits": _splits, "datasets": _datasets}[what]()


def _methods() -> None:
    from fsfer_bench.methods import FeatureMethod
    from fsfer_bench.registry import get_method, method_names

    names = method_names()
    width = max(map(len, names), default=0)  # plugin names can be long: keep the columns aligned
    for name in names:
        cls = get_method(name)
        path = "fast" if issubclass(cls, FeatureMethod) else "per-episode"
        queries = "transductive" if cls.transductive else "inductive"  # with the method's default options
        click.echo(f"{name:<{width}}  {cls.training_loop:<18} {path:<12} {queries:<13} {_first_line(cls)}")


def _splits() -> None:
    from fsfer_bench.leakage import same_database_note
    from fsfer_bench.splits import get_split, split_names

    for split in map(get_split, split_names()):
        classes = split.classes if isinstance(split.classes, str) else ", ".join(split.classes)
        click.echo(f"{split.name:<12} {split.kind:<14} target {split.target}; train on {', '.join(split.train_on)}")
        click.echo(f"{'':<12} {same_database_note(split)}")
        click.echo(f"{'':<12} {split.description}")
        click.echo(f"{'':<12} classes: {classes}")


def _datasets() -> None:
    from fsfer_bench.registry import dataset_names, get_dataset

    for name in dataset_names():
        adapter = get_dataset(name)
        where = "generated" if not adapter.needs_files else f"<data root>/{adapter.folders[0]}"
        click.echo(f"{name:<16} {where:<28} {adapter.layout}")
