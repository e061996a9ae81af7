"""Two methods on the same episodes: paired difference, its CI, two paired tests, win/tie/loss.

With several seeds, the headline figures are for each method's *expected accuracy over
retraining and over the population of test episodes*, as in `report`: each method's mean
with an interval that counts both the training seeds and the sampling of the test
episodes (seeds and episodes crossed when every seed ran one episode set,
`stats.crossed_estimate`), and the difference a - b paired by seed and by episode,
with its interval and two-sided test estimated the same way. The episode-level figures
that follow pool every seed's episodes and are conditional on the few trained models
behind them. With one seed there is only the episode level, which speaks for those two
trained models only. `report` tests a cell with the same p-value (before Holm's
correction across the pairs of its column).

Callable from Python as well as through `fsfer-bench compare`:

    from fsfer_bench.results import load
    from fsfer_bench.report import compare_methods, format_comparison
    print(format_comparison(compare_methods(load("results"), "protonet", "matchingnet", "SynFACS_C", 1)))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from fsfer_bench.errors import StoreError
from fsfer_bench.record import UNKNOWN
from fsfer_bench.report.cells import Cell, UnpairedEpisodesError, find_cell
from fsfer_bench.report.tables import ALPHA, DEFAULT_LABEL, LATEX, MARKDOWN, Column, Markup, markdown_table
from fsfer_bench.stats import EPISODES, SEEDS_X_EPISODES, Estimate, PairedComparison, holm, paired_compare


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    split: str
    shot: int
    way: int
    seeds: tuple[int, ...]
    summary_a: Estimate  # over seeds and the episode population with 2 seeds or more, else over episodes
    summary_b: Estimate
    paired: PairedComparison  # differences are a - b, in accuracy points, over episodes
    seed_differences: tuple[float, ...]  # mean of a - b over each seed's episodes, in seed order
    across_seeds: Estimate | None  # a - b over seeds and the episode population, with 2 seeds or more
    p_value: float  # the test `report` uses: across seeds and episodes with 2 seeds or more, else over episodes
    returned_final_stage: dict[str, str]  # method -> Record.returned_final_stage of its runs

    def to_dict(self) -> dict:
        """For JSON: figures undefined for one episode or one seed are NaN here, `null` there, with this note."""
        out = asdict(self)
        if self.paired.n < 2:
            out["note"] = "n/a (1 episode): no interval and no test from a single paired episode"
        return out


def compare_methods(runs: pd.DataFrame, a: str, b: str, split: str, shot: int) -> Comparison:
    """Compare methods `a` and `b` episode by episode; refuses runs that did not share their episodes.

    `runs` is `results.load(...)`, already narrowed (e.g. by `select_runs`) to the seeds wanted;
    several seeds are pooled, and paired only if each seed's episode set is the same for both.
    """
    cell_a, cell_b = find_cell(runs, a, split, shot), find_cell(runs, b, split, shot)
    check_paired(cell_a, cell_b)
    per_seed = np.split(cell_a.accuracies - cell_b.accuracies, np.cumsum(cell_a.episode_counts)[:-1])
    seed_differences = tuple(float(d.mean()) for d in per_seed)
    return Comparison(
        a, b, split, shot, cell_a.way, cell_a.seeds, cell_a.summary, cell_b.summary,
        paired_compare(cell_a.accuracies, cell_b.accuracies),
        seed_differences, cell_a.difference(cell_b) if cell_a.across_seeds else None,
        cell_a.paired_pvalue(cell_b), {a: cell_a.returned_final_stage, b: cell_b.returned_final_stage},
    )  # fmt: skip


def check_paired(a: Cell, b: Cell) -> None:
    """Raise unless `a` and `b` ran the same episodes, seed by seed."""
    if a.pairs_with(b):
        return
    hint = "; pick one shared seed with --seed" if set(a.seeds) & set(b.seeds) and a.seeds != b.seeds else ""
    raise UnpairedEpisodesError(
        f"{a.method} and {b.method} did not run the same episodes on {a.split} at {a.shot} shot(s), so a paired "
        f"comparison is impossible ({a.method}: {a.describe_episodes()} | {b.method}: {b.describe_episodes()}){hint}"
    )


def format_comparison(c: Comparison) -> str:
    """The text `fsfer-bench compare` prints."""
    width = max(len(c.a), len(c.b), len("difference"))
    return "\n".join([*_head_lines(c, width), *_episode_lines(c, width), *_stage_lines(c)])


def _head_lines(c: Comparison, width: int) -> list[str]:
    p = c.paired
    if c.across_seeds is None:
        return [
            f"{c.a} vs {c.b} on {c.split}, {c.way}-way {c.shot}-shot: {p.n} paired episodes (seed {c.seeds[0]}; "
            "one trained model per method: these figures speak for those models only)",
            f"  {c.a:<{width}}  {c.summary_a.mean:6.2f} ± {_ci(c.summary_a.ci95)} %",
            f"  {c.b:<{width}}  {c.summary_b.mean:6.2f} ± {_ci(c.summary_b.ci95)} %",
        ]
    s, d = len(c.seeds), c.across_seeds
    each = ", ".join(f"{x:+.2f}" for x in c.seed_differences)
    how = "seeds x episodes crossed: two-way variance components"  # paired cells share one episode set
    return [
        f"{c.a} vs {c.b} on {c.split}, {c.way}-way {c.shot}-shot: {s} seeds x {p.n // s} paired episodes "
        f"(seeds {', '.join(map(str, c.seeds))})",
        "  expected accuracy over retraining and over the population of test episodes (what `report` marks;",
        f"  95% intervals count both; {how}):",
        f"  {c.a:<{width}}  {c.summary_a.mean:6.2f} ± {_ci(c.summary_a.ci95)} %",
        f"  {c.b:<{width}}  {c.summary_b.mean:6.2f} ± {_ci(c.summary_b.ci95)} %",
        f"  {'difference':<{width}}  {d.mean:+6.2f} ± {_ci(d.ci95)} points (paired by seed and by episode)",
        f"  test of no difference  p = {_p(c.p_value)}",
        f"  per seed               {each} points",
        *_spread_line(d),
        "  over episodes, seeds pooled (conditional on these trained models):",
    ]


def _spread_line(d: Estimate) -> list[str]:
    """Where the difference's noise comes from: its standard deviations across seeds and across episodes."""
    if d.basis != SEEDS_X_EPISODES:
        return []
    return [
        f"  spread of the difference: {d.seed_sd:.2f} points across seeds, {d.episode_sd:.2f} across episodes, "
        f"{d.residual_sd:.2f} residual (sd)"
    ]


def _episode_lines(c: Comparison, width: int) -> list[str]:
    p = c.paired
    return [
        f"  {'difference':<{width}}  {p.mean_diff:+6.2f} ± {_ci(p.ci95)} points ({c.a} - {c.b}, 95% t-CI)",
        f"  paired t-test          p = {_p(p.t_pvalue)}",
        f"  Wilcoxon signed-rank   p = {_p(p.wilcoxon_pvalue)}",
        f"  win / tie / loss       {p.wins} / {p.ties} / {p.losses}  (episodes where {c.a} is better / equal / worse)",
    ]


def _stage_lines(c: Comparison) -> list[str]:
    """The flag `report` shows as a mark: weights from before the final training stage, or not known."""
    lines = []
    for method, answer in c.returned_final_stage.items():
        if answer == "no":
            lines.append(f"  note: {method} returned weights from before its final training stage")
        elif answer == UNKNOWN:
            lines.append(f"  note: which training stage {method}'s returned weights came from is not recorded")
    return lines


def _ci(x: float) -> str:
    return "n/a (1 episode)" if math.isnan(x) else f"{x:.2f}"


def _p(x: float) -> str:
    return "n/a (1 episode)" if math.isnan(x) else f"{x:.3g}"


# --- one method minus several others: a table ---------------------------------------------------------------


@dataclass(frozen=True)
class DifferenceCell:
    other: str
    column: Column
    difference: Estimate | None  # a - other; None where they did not run the same episodes
    p_holm: float | None  # Holm-adjusted over every test of the table; None where not tested


@dataclass(frozen=True)
class DifferenceTable:
    """Method `a` minus each of `others`, per (split, shot) column, Holm-corrected across all the table's tests."""

    a: str
    others: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: dict[tuple[str, Column], DifferenceCell]  # missing: one of the two has no runs there
    way: int
    alpha: float

    @property
    def tests(self) -> int:
        return sum(c.p_holm is not None for c in self.cells.values())


def difference_table(
    cells: Sequence[Cell], a: str, others: Sequence[str], columns: Sequence[Column], alpha: float = ALPHA
) -> DifferenceTable:
    """The differences `a` - B for each B in `others` and each column, from `make_cells(..., pool_seeds=True)`."""
    by_key = {(c.method, Column(c.split, c.shot)): c for c in cells}
    if not any(m == a for m, _ in by_key):
        raise StoreError(f"no runs of {a} among the selected records; choose the first method with --minus")
    found: dict[tuple[str, Column], Estimate | None] = {}
    for other in others:
        for column in columns:
            mine, theirs = by_key.get((a, column)), by_key.get((other, column))
            if mine is not None and theirs is not None:
                found[(other, column)] = mine.difference(theirs) if mine.testable_against(theirs) else None
    tested = [key for key, d in found.items() if d is not None and not math.isnan(d.p_value)]
    adjusted = dict(zip(tested, holm([found[key].p_value for key in tested]))) if tested else {}
    table_cells = {
        key: DifferenceCell(key[0], key[1], d, None if key not in adjusted else float(adjusted[key]))
        for key, d in found.items()
    }
    return DifferenceTable(a, tuple(others), tuple(columns), table_cells, cells[0].way, alpha)


def _difference_text(cell: DifferenceCell | None, table: DifferenceTable, m: Markup) -> str:
    if cell is None:
        return "not run"
    d = cell.difference
    if d is None:
        return f"not tested{m.dagger}"
    text = f"{d.mean:+.2f} {m.pm} {'n/a' if math.isnan(d.ci95) else f'{d.ci95:.2f}'}"
    if cell.p_holm is not None and cell.p_holm < table.alpha:
        text = m.bold(text)
    return text + ("" if cell.p_holm is None else f" (p = {cell.p_holm:.2g})")


def difference_notes(table: DifferenceTable, m: Markup) -> list[str]:
    """What the cells, the intervals and the marks of a difference table are."""
    bases = {c.difference.basis for c in table.cells.values() if c.difference is not None}
    said = [
        f"Cells: {m.escape(table.a)} minus the row's method, in accuracy points, paired by training seed and by "
        f"test episode (both ran the same {table.way}-way episodes), {m.pm} half-width of the 95{m.percent} "
        "confidence interval; p: two-sided test of no difference."
    ]
    if bases - {EPISODES}:
        said.append(
            "With several training seeds the interval and test are for the difference in expected accuracy over "
            "retraining and over the population of test episodes (seeds x episodes crossed on one shared episode "
            "set: two-way variance components, a t quantile for each part)."
        )
    if EPISODES in bases:
        said.append(
            "Cells of one training seed: paired t over the episodes, for those two trained models only (not "
            "for a retraining)."
        )
    said.append(
        f"{m.bold('Bold')}: Holm-adjusted p < {table.alpha:g}, the correction taken across all {table.tests} tests "
        "of the table; p shown is the adjusted one. An interval that contains zero is not evidence of equality."
    )
    if any(c.difference is None for c in table.cells.values()):
        said.append(
            f"{m.dagger} Not tested: the two methods did not run the same episodes, seed by seed, or ran fewer "
            "than two of them."
        )
    return said


def differences_to_markdown(table: DifferenceTable, caption: str | None = None) -> str:
    m = MARKDOWN
    header, rows = _difference_rows(table, m)
    return markdown_table(caption or _difference_caption(table, m), header, rows, difference_notes(table, m))


def _difference_rows(table: DifferenceTable, m: Markup) -> tuple[list[str], list[list[str]]]:
    """The header and one row of formatted cells per other method, in `m`'s markup."""
    header = [f"{m.escape(table.a)} minus", *(f"{m.escape(c.split)} {c.shot}-shot" for c in table.columns)]
    rows = [
        [m.escape(other), *(_difference_text(table.cells.get((other, c)), table, m) for c in table.columns)]
        for other in table.others
    ]
    return header, rows


def differences_to_latex(table: DifferenceTable, caption: str | None = None, label: str = DEFAULT_LABEL) -> str:
    m = LATEX
    header, rows = _difference_rows(table, m)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{caption or _difference_caption(table, m)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{l{'c' * len(table.columns)}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
        *(" & ".join(row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\par\smallskip\footnotesize",
        "\n".join(difference_notes(table, m)),
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def differences_to_csv(table: DifferenceTable) -> str:
    """One row per tested or untested pair, numbers unformatted."""
    rows = []
    for (other, column), cell in table.cells.items():
        d = cell.difference
        rows.append({
            "a": table.a, "b": other, "split": column.split, "shot": column.shot,
            "difference": None if d is None else d.mean, "ci95": None if d is None else d.ci95,
            "p": None if d is None else d.p_value, "p_holm": cell.p_holm,
            "basis": None if d is None else d.basis, "seeds": None if d is None else d.seeds,
        })  # fmt: skip
    return pd.DataFrame(rows).to_csv(index=False, float_format="%.6g")


def _difference_caption(table: DifferenceTable, m: Markup) -> str:
    return f"{m.escape(table.a)} minus each other method: difference in {table.way}-way accuracy (points)."
