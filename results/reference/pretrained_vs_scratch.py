"""Issue 24, item 4: a method started from the exported Baseline++ backbone against itself from random
initialisation, paired by training seed and test episode across the two stores.

The pretrained store (run_pretrained.sh) and the wild store (run_wild.sh) share their test episodes
(episode seed 0, 600 episodes; tests/test_reference_results.py checks the records' episode hashes), so each
pretrained row minus its random-initialisation counterpart is a seeds x episodes crossed estimate, as
`report --minus` gives within one store; Holm's correction runs across every test of the table. Seeds 0-2:
the random-initialisation rows have three. Printed as markdown; `make_report.sh` writes it to
tables/pretrained_vs_scratch.md.

    python results/reference/pretrained_vs_scratch.py
"""

from __future__ import annotations

from pathlib import Path

from fsfer_bench.report.cells import Selection, make_cells, newest_per_seed, select_runs
from fsfer_bench.results import load
from fsfer_bench.stats import holm

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2)
COLUMNS = [(split, shot) for split in ("CFEE_C", "CFEE_B", "CKplus") for shot in (1, 5)]
STEPS = "train.steps=500"
# (pretrained row, random-initialisation row); the first random-initialisation rows saw 131,200 training
# images (EGS-Net's 1,600 steps; ProtoNet at 2,624 steps of 50), the pretrained ones Baseline++'s images up to
# its returned step plus the few-shot stage's (records: training.images_seen_returned), 137,000-169,000. The
# equal-images rows (CFEE only) give random initialisation the most any pretrained seed saw: Baseline++'s
# 128,000 plus EGS-Net's 41,000 (2,061 steps of 82) or ProtoNet's 25,000 (3,060 steps of 50).
EQUAL_EGSNET, EQUAL_PROTONET = "egsnet [train.steps=2061]", "protonet [train.steps=3060]"
PAIRS = [
    (f"egsnet [{STEPS}]", "egsnet"),
    (f"egsnet [{STEPS}]", EQUAL_EGSNET),
    (f"egsnet [train.backbone_lr_scale=0.1, {STEPS}]", "egsnet"),
    (f"egsnet [train.regime=linear-probe, {STEPS}]", "egsnet"),
    (f"protonet [{STEPS}]", "protonet [train.steps=2624]"),
    (f"protonet [{STEPS}]", EQUAL_PROTONET),
    (f"protonet [train.backbone_lr_scale=0.1, {STEPS}]", "protonet [train.steps=2624]"),
    (f"protonet [train.regime=frozen, {STEPS}]", "protonet [train.steps=2624]"),
]


def cells_of(store: Path, methods: list[str], seeds: tuple[int, ...] | None = SEEDS) -> dict:
    """The store's pooled cells of `methods` at `seeds` (None: every seed), by (method, split, shot)."""
    runs = select_runs(load(store), Selection(methods=tuple(methods), seeds=seeds), store)
    return {(c.method, c.split, c.shot): c for c in make_cells(newest_per_seed(runs))}


def main() -> None:
    pretrained = cells_of(HERE / "pretrained", sorted({a for a, _ in PAIRS}))
    scratch = cells_of(HERE / "wild", sorted({b for _, b in PAIRS}))
    found = {}
    for a, b in PAIRS:
        for split, shot in COLUMNS:
            mine, theirs = pretrained.get((a, split, shot)), scratch.get((b, split, shot))
            if mine is None or theirs is None:
                continue
            if not mine.pairs_with(theirs):
                raise SystemExit(f"{a} and {b} on {split} {shot}-shot did not run the same seeds and episodes")
            found[(a, b, split, shot)] = mine.difference(theirs)
    adjusted = dict(zip(found, holm([d.p_value for d in found.values()])))
    header = " | ".join(f"{split} {shot}-shot" for split, shot in COLUMNS)
    print(f"| pretrained start minus random initialisation | from scratch | {header} |")
    print("|---|---|" + "---:|" * len(COLUMNS))
    for a, b in PAIRS:
        texts = []
        for split, shot in COLUMNS:
            d = found.get((a, b, split, shot))
            if d is None:
                texts.append("-")
                continue
            text = f"{d.mean:+.2f} ± {d.ci95:.2f} (p_Holm {adjusted[(a, b, split, shot)]:.3f})"
            texts.append(f"**{text}**" if adjusted[(a, b, split, shot)] < 0.05 else text)
        print(f"| {a} | {b} | " + " | ".join(texts) + " |")
    print()
    print(
        f"Percentage points, seeds {', '.join(map(str, SEEDS))} x 600 shared episodes per column (crossed "
        f"seeds x episodes estimate, 95% interval); bold: Holm-adjusted p < 0.05 over the {len(found)} tests."
    )


if __name__ == "__main__":
    main()
