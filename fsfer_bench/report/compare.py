"""Two methods on the same episodes: paired difference, its CI, two paired tests, win/tie/loss.

With several seeds, the episode-level figures pool every seed's episodes, and so are
conditional on the few trained models behind them: they say nothing of how much a
retraining would move the means. So the comparison also gives each seed's mean difference
and a Student-t interval across seeds, which does count that variance (wide with few seeds).

Callable from Python as well as through `fsfer-bench compare`:

    from fsfer_bench.results import load
    from fsfer_bench.report import compare_methods, format_comparison
    print(format_comparison(compare_methods(load("results"), "protonet", "matchingnet", "SynFACS_C", 1)))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

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
    paired: PairedComparison  # differences are a - b, in accuracy points
    seed_differences: tuple[float, ...]  # mean of a - b over each seed's episodes, in seed order
    across_seeds: Summary | None  # of seed_differences, with 2 seeds or more

    def to_dict(self) -> dict:
        return asdict(self)


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
        seed_differences, summarise(seed_differences) if len(seed_differences) > 1 else None,
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
    p = c.paired
    width = max(len(c.a), len(c.b), len("difference"))
    seeds = ("seed " if len(c.seeds) == 1 else "seeds pooled: ") + ", ".join(map(str, c.seeds))
    return "\n".join(
        [
            f"{c.a} vs {c.b} on {c.split}, {c.way}-way {c.shot}-shot: {p.n} paired episodes ({seeds})",
            f"  {c.a:<{width}}  {c.summary_a.mean:6.2f} ± {c.summary_a.ci95:.2f} %",
            f"  {c.b:<{width}}  {c.summary_b.mean:6.2f} ± {c.summary_b.ci95:.2f} %",
            f"  {'difference':<{width}}  {p.mean_diff:+6.2f} ± {p.ci95:.2f} points ({c.a} - {c.b}, 95% t-CI)",
            f"  paired t-test          p = {p.t_pvalue:.3g}",
            f"  Wilcoxon signed-rank   p = {p.wilcoxon_pvalue:.3g}",
            f"  win / tie / loss       {p.wins} / {p.ties} / {p.losses}"
            f"  (episodes where {c.a} is better / equal / worse)",
            *_across_seeds_lines(c),
        ]
    )


def _across_seeds_lines(c: Comparison) -> list[str]:
    if c.across_seeds is None:
        return []
    each = ", ".join(f"{d:+.2f}" for d in c.seed_differences)
    return [
        f"  per seed               {each} points",
        f"  across seeds           {c.across_seeds.mean:+6.2f} ± {c.across_seeds.ci95:.2f} points "
        f"(95% t-CI over {len(c.seed_differences)} seeds: counts retraining, unlike the figures above)",
    ]
