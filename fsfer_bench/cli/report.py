"""`fsfer-bench report`, `compare` and `plot KIND`: read the results store, never write to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from fsfer_bench.cli import main
from fsfer_bench.cli.common import friendly_errors, plugin_option
from fsfer_bench.errors import ConfigError
from fsfer_bench.files import dumps_strict, write_text_atomic


def _names(value: str | None) -> tuple[str, ...] | None:
    """Comma-separated names; a comma inside [...] belongs to a row name ("maml [train.steps=500, inner_lr=0.01]",
    as tables print a run with several settings changed), not between two names."""
    if value is None:
        return None
    names, current, depth = [], [], 0
    for char in value:
        depth += (char == "[") - (char == "]")
        if char == "," and depth <= 0:
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))
    return tuple(name.strip() for name in names if name.strip())


def _ints(value: str | None, flag: str) -> tuple[int, ...] | None:
    names = _names(value)
    try:
        return None if names is None else tuple(int(v) for v in names)
    except ValueError:
        raise ConfigError(f"{flag} takes whole numbers separated by commas, e.g. {flag} 1,5; got '{value}'") from None


def _results_option(command: Callable) -> Callable:
    return click.option(
        "--results", "results_dir", type=click.Path(), default="runs", show_default=True,
        help="The results store to read.",
    )(command)  # fmt: skip


def _way_option(command: Callable) -> Callable:
    return click.option("--way", type=int, help="Episode width, when the store holds runs of several.")(command)


def _selected(results_dir: str, **selection: Any) -> Any:
    """The store's runs that the flags ask for, newest record per seed (a DataFrame)."""
    from fsfer_bench.report.cells import Selection, select_runs
    from fsfer_bench.results import load

    return select_runs(load(results_dir), Selection(**selection), results_dir)


def _write(text: str, out: str | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        write_text_atomic(out, text)  # a full disk leaves the previous table whole
    except OSError as exc:
        raise ConfigError(f"cannot write {out} ({exc.strerror or exc}); choose another --out") from exc
    click.echo(f"wrote {out}", err=True)


# --- report -------------------------------------------------------------------------------------------------


@main.command()
@_results_option
@click.option("--methods", help="Rows, comma-separated, in this order.  [default: every method with runs]")
@click.option("--splits", help="Column groups, comma-separated, in this order.  [default: every split with runs]")
@click.option("--shots", help="Shots per split, comma-separated, e.g. 1,5.  [default: every shot with runs]")
@click.option("--seeds", help="Training seeds to read, comma-separated, e.g. 0 for one trained model per method, "
                              "when some methods have more.  [default: every seed with runs]")  # fmt: skip
@_way_option
@click.option("--format", "fmt", type=click.Choice(["latex", "markdown", "csv"]), default="markdown",
              show_default=True)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False), help="Write the table here.  [default: stdout]")
@click.option("--standalone", is_flag=True, help="LaTeX only: a whole document that pdflatex compiles.")
@click.option("--caption", help="Caption, written as is in the output format.  [default: says what cells hold]")
@click.option("--label", default="tab:fsfer-bench", show_default=True, help="LaTeX \\label of the table.")
@click.option("--pool-seeds/--no-pool-seeds", default=True, show_default=True,
              help="Pool the seeds of a cell (inference across seeds), or give each seed its own row.")  # fmt: skip
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Level of the paired tests.")
@click.option("--minus", "minus", metavar="METHOD",
              help="Instead: METHOD minus each of --methods, per column (paired differences ± 95% CI, "
                   "Holm-corrected across every test of the table).")  # fmt: skip
@friendly_errors
@plugin_option
def report(results_dir: str, methods: str | None, splits: str | None, shots: str | None, seeds: str | None,
           way: int | None, fmt: str, out: str | None, standalone: bool, caption: str | None, label: str,
           pool_seeds: bool, alpha: float, minus: str | None) -> None:  # fmt: skip
    """Table of methods x (split, shot): mean ± 95% CI, best bold, not significantly worse underlined.

    With --minus A, a table of A minus each of --methods instead, bold where the difference
    stays significant after Holm's correction across all the table's tests.

    \b
    Examples:
      fsfer-bench report --splits SynFACS_C,SynFACS_B --format latex --standalone --out table.tex
      fsfer-bench report --minus egsnet --methods protonet,egsnet-joint --splits CFEE_C --shots 5
    """
    from fsfer_bench.report.cells import make_cells
    from fsfer_bench.report.tables import build_table, to_csv, to_latex, to_markdown

    if standalone and fmt != "latex":
        raise ConfigError("--standalone makes a LaTeX document; use it with --format latex")
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha must lie between 0 and 1, got {alpha}")
    selection = {"methods": _names(methods), "splits": _names(splits), "shots": _ints(shots, "--shots"), "way": way}
    if minus is not None:
        if standalone or not pool_seeds:
            raise ConfigError("--minus makes one table of differences over pooled seeds; drop --standalone and "
                              "--no-pool-seeds")  # fmt: skip
        _write(_difference_report(results_dir, minus, selection, _ints(seeds, "--seeds"), fmt, caption, label,
                                  alpha), out)  # fmt: skip
        return
    runs = _selected(results_dir, **selection, seeds=_ints(seeds, "--seeds"))
    cells = make_cells(runs, pool_seeds=pool_seeds)
    table = build_table(cells, selection["methods"], selection["splits"], selection["shots"], alpha)
    if fmt == "latex":
        text = to_latex(table, caption=caption, label=label, standalone=standalone)
    elif fmt == "markdown":
        text = to_markdown(table, caption=caption)
    else:
        text = to_csv(table)
    _write(text, out)


def _difference_report(results_dir: str, minus: str, selection: dict, seeds: tuple[int, ...] | None, fmt: str,
                       caption: str | None, label: str, alpha: float) -> str:  # fmt: skip
    """`report --minus A`: the text of A minus each of --methods."""
    from fsfer_bench.report import compare as c
    from fsfer_bench.report.cells import make_cells
    from fsfer_bench.report.tables import Column

    others = selection["methods"]
    if not others:
        raise ConfigError("--minus METHOD needs the methods to subtract: --methods B1,B2")
    runs = _selected(results_dir, **{**selection, "methods": (minus, *others)}, seeds=seeds)
    splits = selection["splits"] or tuple(sorted(runs["split"].unique()))
    shots = selection["shots"] or tuple(sorted(int(s) for s in runs["shot"].unique()))
    columns = [Column(split, shot) for split in splits for shot in shots]
    table = c.difference_table(make_cells(runs), minus, others, columns, alpha)
    if fmt == "latex":
        return c.differences_to_latex(table, caption=caption, label=label)
    return c.differences_to_markdown(table, caption=caption) if fmt == "markdown" else c.differences_to_csv(table)


# --- compare ------------------------------------------------------------------------------------------------


@main.command()
@click.argument("method_a")
@click.argument("method_b")
@click.option("--split", "-s", required=True, help="The split both methods ran on.")
@click.option("--shot", "-k", type=int, required=True, help="Shots per class.")
@click.option("--seed", type=int, help="Compare one seed's runs.  [default: all seeds, pooled]")
@_way_option
@_results_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@friendly_errors
@plugin_option
def compare(method_a: str, method_b: str, split: str, shot: int, seed: int | None, way: int | None,
            results_dir: str, fmt: str) -> None:  # fmt: skip
    """Paired comparison of METHOD_A and METHOD_B on the episodes both ran.

    Prints the mean difference (A - B) with its 95% t-CI, the paired t-test and
    Wilcoxon signed-rank p-values, and win/tie/loss counts over episodes.
    Runs that did not share their episodes are refused.
    """
    from fsfer_bench.report.compare import compare_methods, format_comparison

    seeds = None if seed is None else (seed,)
    runs = _selected(results_dir, methods=(method_a, method_b), splits=(split,), seeds=seeds, way=way)
    comparison = compare_methods(runs, method_a, method_b, split, shot)
    text = dumps_strict(comparison.to_dict()) if fmt == "json" else format_comparison(comparison)
    click.echo(text)


# --- plot ---------------------------------------------------------------------------------------------------


@main.group()
def plot() -> None:
    """Figures from the results store, as PNG or PDF (by the extension of --out)."""


def _figure_path(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Refuse a bad extension before any record is read."""
    from fsfer_bench.report.plots import check_figure_path

    try:
        check_figure_path(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _out_option(command: Callable) -> Callable:
    return click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, callback=_figure_path,
                        help="Figure file, ending .png or .pdf.")(command)  # fmt: skip


def _methods_option(command: Callable) -> Callable:
    return click.option("--methods", help="Methods, comma-separated.  [default: every method with runs]")(command)


def _seed_option(command: Callable) -> Callable:
    return click.option("--seed", type=int, help="Plot one seed's runs.  [default: all seeds, pooled]")(command)


def _figure_options(command: Callable) -> Callable:
    """The options every figure takes after its own: which seed and width, which store, which file."""
    for option in (plugin_option, friendly_errors, _out_option, _results_option, _way_option, _seed_option):
        command = option(command)
    return command


def _split_figure(name: str, *, shot: bool) -> Callable[[Callable], Callable]:
    """A `plot NAME` command of the methods' runs on one --split (at one --shot where `shot`)."""

    def decorate(command: Callable) -> Callable:
        command = _methods_option(_figure_options(command))
        if shot:
            command = click.option("--shot", "-k", type=int, required=True, help="Shots per class.")(command)
        return plot.command(name)(click.option("--split", "-s", required=True, help="The split to plot.")(command))

    return decorate


def _plot_cells(results_dir: str, methods: str | None, split: str, shot: int | None, seed: int | None,
                way: int | None) -> list:  # fmt: skip
    from fsfer_bench.report.cells import make_cells

    runs = _selected(
        results_dir, methods=_names(methods), splits=(split,), shots=None if shot is None else (shot,),
        seeds=None if seed is None else (seed,), way=way,
    )  # fmt: skip
    return make_cells(runs, pool_seeds=True)


def _save(fig: Any, out: str) -> None:
    from fsfer_bench.report.plots import save_figure

    click.echo(f"wrote {save_figure(fig, out)}", err=True)


@_split_figure("shots", shot=False)
def plot_shots(split: str, methods: str | None, seed: int | None, way: int | None, results_dir: str,
               out: str) -> None:  # fmt: skip
    """Accuracy against shots on SPLIT, one line per method, with 95% CI bars."""
    from fsfer_bench.report.plots import shots_figure

    _save(shots_figure(_plot_cells(results_dir, methods, split, None, seed, way)), out)


@_split_figure("per-class", shot=True)
def plot_per_class(split: str, shot: int, methods: str | None, seed: int | None, way: int | None,
                   results_dir: str, out: str) -> None:  # fmt: skip
    """Accuracy on each class of SPLIT (from the confusion counts): which classes are hard."""
    from fsfer_bench.report.plots import per_class_figure, pooled_confusion

    cells = _plot_cells(results_dir, methods, split, shot, seed, way)
    _save(per_class_figure([pooled_confusion(c) for c in cells]), out)


@plot.command("confusion")
@click.option("--record", "record_id", help="Record id (its file name without .json).")
@click.option("--method", "-m", help="Method, with --split and --shot, instead of --record.")
@click.option("--split", "-s", help="Split, with --method.")
@click.option("--shot", "-k", type=int, help="Shots per class, with --method.")
@_figure_options
def plot_confusion(record_id: str | None, method: str | None, split: str | None, shot: int | None,
                   seed: int | None, way: int | None, results_dir: str, out: str) -> None:  # fmt: skip
    """Confusion matrix of one run (--record), or of --method on --split at --shot (seeds pooled)."""
    from fsfer_bench.report.plots import confusion_figure, pooled_confusion

    if record_id is not None:
        cell = _record_cell(results_dir, record_id)
    elif method and split and shot is not None:
        cell = _plot_cells(results_dir, method, split, shot, seed, way)[0]
    else:
        raise ConfigError("choose the run: --record ID, or --method, --split and --shot together")
    _save(confusion_figure(pooled_confusion(cell)), out)


def _record_cell(results_dir: str, record_id: str) -> Any:
    from fsfer_bench.errors import StoreError, closest
    from fsfer_bench.report.cells import make_cells
    from fsfer_bench.results import load

    runs = load(results_dir)
    match = runs[runs["record_id"] == record_id.removesuffix(".json")]
    if match.empty:
        hint = closest(record_id, list(runs["record_id"]))
        raise StoreError(f"no record with id '{record_id}' under {results_dir}{hint}")
    return make_cells(match, pool_seeds=False)[0]


@_split_figure("histogram", shot=True)
def plot_histogram(split: str, shot: int, methods: str | None, seed: int | None, way: int | None,
                   results_dir: str, out: str) -> None:  # fmt: skip
    """Histogram of per-episode accuracy on SPLIT at SHOT, one outline per method."""
    from fsfer_bench.report.plots import histogram_figure

    _save(histogram_figure(_plot_cells(results_dir, methods, split, shot, seed, way)), out)
