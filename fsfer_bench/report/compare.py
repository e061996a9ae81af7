"""Two methods on the same episodes: paired difference, its CI, two paired tests, win/tie/loss.

With several seeds, the headline figures are across seeds, as in `report`: each method's
mean of per-seed means with its Student-t interval over the seeds, and the per-seed
paired differences with their t-interval and t-test (S - 1 df), which count retraining
variance (wide with few seeds). The episode-level figures that follow pool every seed's
episodes and are conditional on the few trained models behind them. With one seed there
is only the episode level, which speaks for those two trained models only.
`report` marks a cell with the same p-value (before Holm's correction across its column).

Callable from Python as well as through `fsfer-bench compare`:

    from fsfer_bench.results import load
    from fsfer_bench.report import compare_methods, format_comparison
    print(format_comparison(compare_methods(load("results"), "protonet", "matchingnet", "SynFACS_C", 1)))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from fsfer_bench.record import UNKNOWN
from fsfer_bench.report.cells import Cell, UnpairedEpisodesError, find_cell
from fsfer_bench.stats import PairedComparison, Summary, paired_compare, summarise


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    split: str
    shot: int
    way: int
    seeds: tuple[int, ...]
    summary_a: Summary
    summary_b: Summary
    paired: PairedComparison  # differences are a - b, in accuracy points, over episodes
    seed_differences: tuple[float, ...]  # mean of a - b over each seed's episodes, in seed order
    across_seeds: Summary | None  # of seed_differences, with 2 seeds or more
    p_value: float  # the test `report` uses: across seeds with 2 or more, else over episodes
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
        seed_differences, summarise(seed_differences) if cell_a.across_seeds else None,
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
    s = len(c.seeds)
    each = ", ".join(f"{d:+.2f}" for d in c.seed_differences)
    return [
        f"{c.a} vs {c.b} on {c.split}, {c.way}-way {c.shot}-shot: {s} seeds x {p.n // s} paired episodes "
        f"(seeds {', '.join(map(str, c.seeds))})",
        "  across seeds (counts retraining; what `report` marks):",
        f"  {c.a:<{width}}  {c.summary_a.mean:6.2f} ± {_ci(c.summary_a.ci95)} %  (mean of per-seed means, "
        f"95% t-CI over {s} seeds)",
        f"  {c.b:<{width}}  {c.summary_b.mean:6.2f} ± {_ci(c.summary_b.ci95)} %",
        f"  {'difference':<{width}}  {c.across_seeds.mean:+6.2f} ± {_ci(c.across_seeds.ci95)} points "
        f"(95% t-CI over {s} seeds)",
        f"  t-test over seeds      p = {_p(c.p_value)}",
        f"  per seed               {each} points",
        "  over episodes, seeds pooled (conditional on these trained models):",
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
