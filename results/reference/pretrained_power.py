"""Issue 24, item 3: the power of the five-seed comparison (EGS-Net minus each method, pretrained start).

For each column of tables/pretrained_egsnet_minus.md, the standard error of the paired difference as the
table estimates it (seeds x episodes crossed; `Cell.difference`), and from it the chance that a two-sided
test at alpha 0.05 fires on a true difference of 3 points, and the difference it detects with 80% power.
The test is approximated by a t with S - 1 degrees of freedom (S seeds) and that standard error: the seed
part dominates it here. Before Holm's correction across the table (which only lowers power), and taking the
observed spread as the true one (with five seeds it is itself uncertain by a factor of about 2 either way).

    python results/reference/pretrained_power.py
"""

from __future__ import annotations

from pathlib import Path

from scipy import optimize, stats

from fsfer_bench.report.cells import Selection, make_cells, newest_per_seed, select_runs
from fsfer_bench.results import load

HERE = Path(__file__).resolve().parent
FEW = "train.steps=500"
EGSNET = f"egsnet [{FEW}]"
OTHERS = [f"protonet [{FEW}]", f"matchingnet [{FEW}]", f"relationnet [{FEW}]",
          f"maml [{FEW}, first_order=True, inner_lr=0.01]", "baseline++", f"egsnet-joint [{FEW}]"]  # fmt: skip
COLUMNS = [(split, shot) for split in ("CFEE_C", "CFEE_B") for shot in (1, 5)]
TRUE_DIFFERENCE = 3.0
ALPHA = 0.05


def power(difference: float, se: float, df: int) -> float:
    """P(|T| > t_crit) for T noncentral t with `df` degrees of freedom and noncentrality difference / se."""
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    nc = difference / se
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def detectable(se: float, df: int, target: float = 0.8) -> float:
    """The true difference found with probability `target`."""
    return float(optimize.brentq(lambda d: power(d, se, df) - target, 1e-6, 100 * se + 100))


def main() -> None:
    store = HERE / "pretrained"
    runs = select_runs(load(store), Selection(methods=(EGSNET, *OTHERS)), store)
    cells = {(c.method, c.split, c.shot): c for c in make_cells(newest_per_seed(runs))}
    header = " | ".join(f"{split} {shot}-shot" for split, shot in COLUMNS)
    print(f"| EGS-Net minus | {header} |")
    print("|---|" + "---:|" * len(COLUMNS))
    for other in OTHERS:
        texts = []
        for split, shot in COLUMNS:
            mine, theirs = cells.get((EGSNET, split, shot)), cells.get((other, split, shot))
            if mine is None or theirs is None or not mine.pairs_with(theirs) or len(mine.seeds) < 2:
                texts.append("-")
                continue
            d, df = mine.difference(theirs), len(mine.seeds) - 1
            texts.append(
                f"se {d.se:.2f}: {power(TRUE_DIFFERENCE, d.se, df):.0%} at 3 points, 80% at {detectable(d.se, df):.1f}"
            )
        print(f"| {other} | " + " | ".join(texts) + " |")
    seeds = sorted({seed for c in cells.values() for seed in c.seeds})
    print()
    print(
        f"Seeds {', '.join(map(str, seeds))} x 600 shared episodes. Power of a two-sided test at alpha {ALPHA} "
        f"(t with seeds - 1 degrees of freedom, the table's standard error), before Holm's correction, for a true "
        f"difference of {TRUE_DIFFERENCE:g} points; and the true difference found with 80% power."
    )


if __name__ == "__main__":
    main()
