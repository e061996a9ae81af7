"""`fsfer-bench run`: train one method once, evaluate it per shot, store the records."""

from __future__ import annotations

import click

from fsfer_bench.cli import main
from fsfer_bench.cli.common import friendly_errors, plugin_option, progress_factory
from fsfer_bench.cli.options import data_options, image_options, label_options
from fsfer_bench.errors import ConfigError
from fsfer_bench.files import dumps_strict


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def episode_seed(value: str | None) -> int | None:
    """`--episode-seed`, read here rather than by click so that bad input is one line, not a usage screen."""
    if value is None:
        return None
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:
        raise ConfigError(f"--episode-seed takes a whole number >= 0, got '{value}'; e.g. --episode-seed 0")
    return seed


@main.command()
@click.option("--method", "-m", help="Method name (see `fsfer-bench list methods`).  [default: protonet]")
@click.option("--split", "-s", help="Evaluation split (see `fsfer-bench list splits`).  [default: SynFACS_C]")
@click.option("--train-on", help="Training sources, comma-separated, or 'single' / 'multiple'.  [default: the split's]")
@click.option("--way", type=int, help="Classes per test episode.  [default: 5]")
@click.option("--shot", help="Shots per class, comma-separated; one evaluation each.  [default: 1,5]")
@click.option("--query", type=int, help="Queries per class per episode.  [default: 15]")
@click.option("--episodes", type=int, help="Test episodes per shot.  [default: 600]")
@click.option("--seed", type=int, help="Seed of training.  [default: 0]")
@click.option("--episode-seed", help="Seed of the test episodes, apart from training's.  [default: 0]")
@click.option("--backbone", help="conv4, resnet12 or resnet18.  [default: the profile's, else conv4]")
@click.option("--weights", type=click.Path(dir_okay=False), help="Pretrained backbone state dict (torchvision layout).")
@click.option("--weights-preset", help="Input normalisation the weights expect: imagenet, msceleb or none.")
@click.option("--profile", help="Method profile: quick (CPU), or paper where the method has one.  [default: quick]")
@click.option("--device", help="auto, cpu or cuda.  [default: auto]")
@click.option("--out", type=click.Path(), help="Results store.  [default: runs]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file (flags win).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override any setting, e.g. train.steps=200 or option.fce=true. Repeatable.")  # fmt: skip
@click.option("--subject-disjoint/--no-subject-disjoint", default=None,
              help="Support and query from different people.  [default: on]")  # fmt: skip
@click.option("--feature-cache/--no-feature-cache", default=None,
              help="Embed each test image once (fast path) or per episode (reference).  [default: on]")  # fmt: skip
@click.option("--min-per-class", type=int, help="Drop target classes with fewer images than this.")
@click.option("--allow-overlap", is_flag=True, default=None, help="Allow training on the target's own dataset.")
@click.option(
    "--retrain",
    is_flag=True,
    help="Train again even if the store holds a model of this training; the new one replaces it.",
)
@click.option(
    "--reuse-training",
    is_flag=True,
    help="Load the model if this training was done before: the default, kept for old scripts.",
)
@click.option("--resume", is_flag=True, help="Continue a training that was killed, from its last checkpoint.")
@data_options
@image_options
@label_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes.")
@friendly_errors
@plugin_option
def run(
    config_file: str | None, assignments: tuple[str, ...], fmt: str, quiet: bool, retrain: bool,
    reuse_training: bool, resume: bool, **flags: object,
) -> None:  # fmt: skip
    """Train METHOD once, then evaluate it on SPLIT for each shot, one line per shot.

    Every trained model is kept in the store (<out>/models), and a later run with the same training
    (settings and training images) reuses it instead of training again; --retrain trains anew.

    \b
    Example:
      fsfer-bench run --method protonet --split SynFACS_C --episodes 200
    """
    from fsfer_bench.config import resolve_config
    from fsfer_bench.experiment import run as run_experiment

    flags["train_on"] = _csv(flags.pop("train_on"))  # type: ignore[arg-type]
    flags["shots"] = flags.pop("shot")
    flags["episode_seed"] = episode_seed(flags.pop("episode_seed"))  # type: ignore[arg-type]
    config = resolve_config(flags, config_file, list(assignments))
    if retrain and reuse_training:
        raise ConfigError("--retrain and --reuse-training contradict each other; give one of them")
    records = run_experiment(config, progress=progress_factory(quiet), reuse_training=not retrain, resume=resume)
    if fmt == "json":
        click.echo(dumps_strict([r.to_dict() for r in records]))
        return
    for record in records:
        click.echo(record.describe())
    if not quiet:
        if records and records[0].training.get("reused"):
            click.echo(f"model reused from {config.out}/models ({records[0].training_hash}); --retrain trains anew",
                       err=True)  # fmt: skip
        click.echo(f"{len(records)} record(s) saved under {config.out}/records", err=True)
