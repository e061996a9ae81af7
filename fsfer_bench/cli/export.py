"""`fsfer-bench export`: a trained model's backbone as a weights file that `--weights` loads."""

from __future__ import annotations

import click

from fsfer_bench.cli import main
from fsfer_bench.cli.common import friendly_errors, plugin_option
from fsfer_bench.cli.options import data_options, image_options, label_options
from fsfer_bench.errors import ConfigError

#: The flags that name a run; with --model they would be ignored, so they are refused.
RUN_FLAGS = ("method", "split", "train_on", "seed", "backbone", "profile", "weights", "weights_preset")


@main.command()
@click.option("--out", required=True, type=click.Path(), help="Weights file to write (a .json sidecar goes beside it).")
@click.option(
    "--model", help="Training hash of a cached model (a record's training_hash), or its .pt in <store>/models."
)
@click.option("--store", type=click.Path(), help="Results store whose model cache holds the model.  [default: runs]")
@click.option("--method", "-m", help="Without --model: the run's method; its other flags find the model.")
@click.option("--split", "-s", help="Without --model: the run's split.")
@click.option("--train-on", help="Without --model: the run's training sources, comma-separated.")
@click.option("--seed", type=int, help="Without --model: the run's training seed.")
@click.option("--backbone", help="Without --model: the run's backbone.")
@click.option("--profile", help="Without --model: the run's profile.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Without --model: the run's --weights.")
@click.option("--weights-preset", help="Without --model: the run's --weights-preset.")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="Without --model: the run's config file."
)
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Without --model: the run's --set.")
@data_options
@image_options
@label_options
@friendly_errors
@plugin_option
def export(
    out: str, model: str | None, store: str | None, config_file: str | None, assignments: tuple[str, ...],
    **flags: object,
) -> None:  # fmt: skip
    """Write a trained model's backbone for `--weights`: by --model HASH, or by the flags of the run that trained it.

    \b
    Examples:
      fsfer-bench export --model e32bf99108969c46 --store runs --out backbone.pt --image-size 48
      fsfer-bench export --method baseline++ --split CKplus --train-on wild --profile long --out backbone.pt
    """
    from fsfer_bench.export import export_backbone, model_by_hash

    if model is not None:
        run_flags = [k for k in RUN_FLAGS if flags[k] is not None]
        if run_flags or config_file or assignments:
            raise ConfigError("--model names the model; leave out the run's flags (--method, --split, ...), or "
                              "leave out --model")  # fmt: skip
        found = model_by_hash(store or "runs", model)
    else:
        found = _model_of_run(flags, config_file, assignments, store)
    report = export_backbone(found, out, flags.get("image_size"))  # type: ignore[arg-type]
    click.echo(f"wrote {report.weights} ({report.tensors} tensors of {found.method}'s {found.backbone}, "
               f"{found.image_size} px) and {report.sidecar}")  # fmt: skip
    click.echo(f"use it with: {report.usage()}")


def _model_of_run(flags: dict, config_file: str | None, assignments: tuple[str, ...], store: str | None):
    from fsfer_bench.config import resolve_config
    from fsfer_bench.export import model_of_run

    if flags.get("method") is None:
        raise ConfigError("export needs --model HASH, or the run's --method (with its other flags)")
    flags["train_on"] = tuple(v.strip() for v in flags["train_on"].split(",")) if flags.get("train_on") else None
    config = resolve_config(flags, config_file, list(assignments))
    return model_of_run(config, store or config.out)
