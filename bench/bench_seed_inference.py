"""Benchmark: size, coverage and power of the report's seed-level inference, by simulation.

Per-episode accuracies with a seed-to-seed spread of each method's mean (large: 2 points by
default), episode difficulty shared by every method and seed (one episode set for every
seed, drawn afresh per study), and either no true difference (size: how often a cell is
marked significantly worse; coverage: how often the interval holds the true expected
accuracy over retraining and over the population of test episodes) or a true 3-point
difference (power, of the table's mark and of `compare`'s paired difference). Tables are
built by the real report code (fsfer_bench/report/simulation.py); the rule this replaced
(Student-t over the seed means of the shared episode set) is shown beside it.

    python bench/bench_seed_inference.py [--tables 500] [--episodes 100] [--seed-sd 2.0] [--method-episode-sd 0]
"""

from __future__ import annotations

import argparse
import time

from fsfer_bench.report.simulation import Scenario, simulate

HEADER = ("seeds", "true diff", "marks", "covers", "diff fires", "diff covers", "old fires", "old covers", "s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed-sd", type=float, default=2.0)
    # a method's own episode difficulty beyond the shared one: it does not cancel in A - B
    parser.add_argument("--method-episode-sd", type=float, default=0.0)
    args = parser.parse_args()
    print(f"{args.tables} simulated tables per row; {args.episodes} episodes per seed, shared by all seeds; seed "
          f"spread {args.seed_sd} points; method x episode spread {args.method_episode_sd}; alpha 0.05")  # fmt: skip
    print("  ".join(f"{h:>11}" for h in HEADER))
    for seeds in (3, 5):
        for difference in (0.0, 3.0):
            start = time.perf_counter()
            scenario = Scenario(seeds=seeds, episodes=args.episodes, seed_sd=args.seed_sd, difference=difference,
                                method_episode_sd=args.method_episode_sd)  # fmt: skip
            o = simulate(scenario, tables=args.tables)
            rates = (o.fired, o.covered, o.difference_fired, o.difference_covered, o.fired_seed_means,
                     o.covered_seed_means)  # fmt: skip
            print("  ".join([f"{seeds:>11}", f"{difference:>11.1f}", *(f"{r:>11.1%}" for r in rates),
                             f"{time.perf_counter() - start:>11.1f}"]))  # fmt: skip
    print("marks: share of tables marking a cell significantly worse (size at diff 0, power at diff 3);")
    print("covers: share whose interval for method A holds its expected accuracy over seeds and episodes;")
    print("diff: the paired difference A - B as `compare` prints it (fires: excludes zero; covers: holds the true")
    print("difference); old: Student-t over the seed means, the rule this replaced.")


if __name__ == "__main__":
    main()
