"""Issue 24, item 3: the power of the seed-level comparison (EGS-Net minus each method, pretrained start).

For each column of tables/pretrained_egsnet_minus.md, the standard error of the paired difference as the
table estimates it (seeds x episodes crossed; `Cell.difference`), and from it the chance that a two-sided
test at alpha 0.05 fires on a true difference of 3 points, and the difference it detects with 80% power,
with the seeds run (five per column: the issue's design).
The test is approximated by a t with S - 1 degrees of freedom (S seeds) and that standard error: the seed
part dominates it here. Before Holm's correction across the table (which only lowers power), and taking the
observed spread as the true one (with five seeds it is itself uncertain by a factor of about 2 either way).

    python results/reference/pretrained_power.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pretrained_vs_scratch import COLUMNS, cells_of  # the sibling script: one way to read the store's cells
from scipy import optimize, stats

HERE = Path(__file__).resolve().parent
FEW = "train.steps=500"
EGSNET = f"egsnet [{FEW}]"
OTHERS = [f"protonet [{FEW}]", f"matchingnet [{FEW}]", f"relationnet [{FEW}]",
          f"maml [{FEW}, first_order=True, inner_lr=0.01]", "baseline++", f"egsnet-joint [{FEW}]"]  # fmt: skip
TRUE_DIFFERENCE = 3.0
ALPHA = 0.05


def power(difference: float, se: float, df: int) -> float:
    """P(|T| > t_crit) for T noncentral t with `df` degrees of freedom and noncentrality difference / se."""
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    nc = difference / se
    # the far tail is negligible for nc > 0, and scipy's nct returns NaN for it at some large nc
    return float(stats.nct.sf(crit, df, nc) + np.nan_to_num(stats.nct.cdf(-crit, df, nc)))


def detectable(se: float, df: int, target: float = 0.8) -> float:
    """The true difference found with probability `target`."""
    return float(optimize.brentq(lambda d: power(d, se, df) - target, 1e-6, 20 * se))


def power_text(se: float, seeds: int) -> str:
    """'power at 3 points; difference at 80% power' with `seeds` seeds."""
    return f"{power(TRUE_DIFFERENCE, se, seeds - 1):.0%}; {detectable(se, seeds - 1):.1f}"


def main() -> None:
    cells = cells_of(HERE / "pretrained", [EGSNET, *OTHERS], seeds=None)
    seeds_of = {column: len(cells[(EGSNET, *column)].seeds) for column in COLUMNS if (EGSNET, *column) in cells}
    header = " | ".join(f"{split} {shot}-shot, {seeds_of.get((split, shot), 0)} seeds" for split, shot in COLUMNS)
    print(f"| EGS-Net minus (power at 3 points; difference at 80% power) | {header} |")
    print("|---|" + "---:|" * len(COLUMNS))
    for other in OTHERS:
        texts = []
        for split, shot in COLUMNS:
            mine, theirs = cells.get((EGSNET, split, shot)), cells.get((other, split, shot))
            if mine is None or theirs is None or not mine.pairs_with(theirs) or len(mine.seeds) < 2:
                texts.append("-")
            else:
                texts.append(power_text(mine.difference(theirs).se, len(mine.seeds)))
        print(f"| {other} | " + " | ".join(texts) + " |")
    print()
    print(
        f"600 shared episodes per column, seeds as in its header. Each cell: the power of a two-sided test at alpha "
        f"{ALPHA} for a true difference of {TRUE_DIFFERENCE:g} points; then the true difference found with 80% "
        f"power (points). A t with seeds - 1 degrees of freedom and the table's standard error; before Holm's "
        f"correction; the observed spread taken as the true one."
    )


if __name__ == "__main__":
    main()
