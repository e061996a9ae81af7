"""`fsfer-bench sweep`: run a grid of methods x splits x shots x seeds, resumably, locally or on Slurm."""

from __future__ import annotations

import json
import sys

import click

from fsfer_bench.cli import main
from fsfer_bench.cli.common import friendly_errors, progress_factory
from fsfer_bench.executors import EXECUTORS


@main.command()
@click.option("--methods", help="Methods, comma-separated (see `fsfer-bench list methods`).")
@click.option("--splits", help="Evaluation splits, comma-separated (see `fsfer-bench list splits`).")
@click.option("--shots", help="Shots, comma-separated; one cell each.  [default: 1,5]")
@click.option("--seeds", help="Seeds, comma-separated; one cell each.  [default: 0]")
@click.option("--episode-seed", help="Seed of the test episodes, the same for every seed's cells.  [default: 0]")
@click.option("--train-on", help="Training sources for every cell, comma-separated.  [default: each split's own]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Sweep file: a run config with a [sweep] table (see docs/sweeps.md); flags win.")  # fmt: skip
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override a run setting of every cell, e.g. train.steps=200. Repeatable.")  # fmt: skip
@click.option("--out", type=click.Path(), help="Results store.  [default: runs]")
@click.option("--episodes", type=int, help="Test episodes per cell.  [default: 600]")
@click.option("--profile", help="Method profile: quick (CPU) or paper.  [default: quick]")
@click.option("--device", help="auto, cpu or cuda.  [default: auto]")
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding the datasets.  [env: FSFER_DATA]")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Module each worker imports first, e.g. one that registers a dataset. Repeatable.")  # fmt: skip
@click.option("--executor", type=click.Choice(EXECUTORS),
              help="local: this machine; slurm: a Slurm job array through submitit.  [default: local]")  # fmt: skip
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Local: worker processes. Slurm: array tasks running at once.  [default: 1 locally]")  # fmt: skip
@click.option("--lease", type=click.FloatRange(min=0, min_open=True),
              help="Seconds before a silent worker's claim may be taken over, and a silent Slurm task that "
                   "Slurm no longer runs is reported dead.  [default: 300]")  # fmt: skip
@click.option("--partition", help="Slurm partition.")
@click.option("--gpus-per-job", type=click.IntRange(min=0), help="Slurm: GPUs per job.  [default: 0]")
@click.option("--cpus-per-job", type=click.IntRange(min=1), help="Slurm: CPUs per job (also torch's threads).")
@click.option("--timeout", type=click.IntRange(min=1), help="Slurm: minutes per job.  [default: 60]")
@click.option("--mem-gb", type=click.FloatRange(min=0, min_open=True), help="Slurm: memory per job, in GB.")
@click.option("--poll", type=click.FloatRange(min=0, min_open=True),
              help="Slurm: seconds between two looks at the tasks.  [default: 10]")  # fmt: skip
@click.option("--requeue", is_flag=True, default=None,
              help="Slurm: requeue a task on node failure, preemption or time limit; it resumes.")  # fmt: skip
@click.option("--slurm-folder", "folder", type=click.Path(file_okay=False),
              help="Where submitit keeps job files and logs.  [default: <out>/slurm]")  # fmt: skip
@click.option("--reuse-training/--no-reuse-training", default=None,
              help="Train once per method and seed; evaluate every shot and split on it.  [default: on]")  # fmt: skip
@click.option("--resume", is_flag=True, default=None, help="Continue killed trainings from their last checkpoint.")
@click.option("--retry-failed", is_flag=True, default=None, help="Run only the cells that failed before.")
@click.option("--dry-run", is_flag=True, help="List the cells and what would be skipped; run nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-cell lines.")
@friendly_errors
def sweep(config_file: str | None, assignments: tuple[str, ...], dry_run: bool, fmt: str, quiet: bool,
          **flags: object) -> None:  # fmt: skip
    """Run every cell of METHODS x SPLITS x SHOTS x SEEDS once; cells already stored are skipped.

    \b
    Examples:
      fsfer-bench sweep --methods protonet,egsnet --splits SynFACS_C --shots 1,5 --seeds 0,1,2 --jobs 2
      fsfer-bench sweep --config study.toml --executor slurm --partition gpu --gpus-per-job 1 --timeout 120
    """
    from fsfer_bench.cli.run import episode_seed
    from fsfer_bench.plugins import check_plugin_modules
    from fsfer_bench.sweep import load_sweep, plan_sweep

    flags["plugins"] = check_plugin_modules(flags["plugins"]) or None  # type: ignore[arg-type,assignment]
    flags["episode_seed"] = episode_seed(flags["episode_seed"])  # type: ignore[arg-type]
    grid, options = load_sweep(flags, config_file, assignments)
    plan = plan_sweep(grid, retry_failed=options.retry_failed, lease=options.lease)
    if dry_run:
        _show_plan(plan, options, fmt)
    else:
        _run(plan, options, fmt, quiet)


def _show_plan(plan, options, fmt: str) -> None:
    from fsfer_bench.sweep import training_groups

    if fmt == "json":
        cells = [{"cell": p.cell.label, "config_hash": p.cell.hash, "run": p.run, "note": p.note} for p in plan.cells]
        click.echo(json.dumps(cells, indent=1))
        return
    for p in plan.cells:
        click.echo(f"{'run' if p.run else 'skip':8} {p.cell.label:45} {p.note}".rstrip())
    jobs = len(training_groups(plan.to_run, options.reuse_training))
    click.echo(
        f"dry run: {len(plan.to_run)} cell(s) to run in {jobs} job(s) (one training each), "
        f"{len(plan.skipped)} skipped; nothing was run",
        err=True,
    )


def _run(plan, options, fmt: str, quiet: bool) -> None:
    from fsfer_bench.sweep import make_executor, run_sweep

    show = None if quiet or fmt == "json" else _echo_outcome
    summary = run_sweep(plan, make_executor(options, plan.out), options, progress=progress_factory(quiet),
                        on_outcome=show)  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(_summary_dict(summary), indent=1))
    else:
        _echo_summary(summary, plan.out)
    if summary.failed:
        sys.exit(1)


def _echo_outcome(outcome) -> None:
    from tqdm.auto import tqdm

    tqdm.write(_outcome_line(outcome), file=sys.stdout)  # above the progress bar, not through it


def _outcome_line(outcome) -> str:
    line = f"{outcome.status:8} {outcome.cell.label:45}"
    record = outcome.record
    if outcome.status == "done" and record:
        trained = "training reused" if outcome.reused else "trained"
        return f"{line} {record['mean']:6.2f} ± {record['ci95']:.2f} %  ({trained})"
    return f"{line} {outcome.reason}".rstrip()


def _echo_summary(summary, out) -> None:
    failed = summary.failed
    click.echo(f"sweep: {len(summary.done)} done, {summary.skipped} skipped, {len(failed)} failed")
    for outcome in failed:
        click.echo(f"  failed  {outcome.cell.label}: {outcome.reason}")
    if failed:
        click.echo(f"details in {out}/failures; run again with --retry-failed to re-run only those", err=True)


def _summary_dict(summary) -> dict:
    def cell(o) -> dict:
        return {"cell": o.cell.label, "config_hash": o.cell.hash, "status": o.status, "reason": o.reason,
                "record": o.record}  # fmt: skip

    return {
        "done": len(summary.done),
        "skipped": summary.skipped,
        "failed": len(summary.failed),
        "cells": [cell(o) for o in summary.outcomes],
        "planned_skips": [
            {"cell": p.cell.label, "config_hash": p.cell.hash, "note": p.note} for p in summary.planned_skips
        ],  # fmt: skip
    }
