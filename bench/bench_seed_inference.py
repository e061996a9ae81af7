"""Benchmark: size, coverage and power of the report's seed-level inference, by simulation.

Setting of issue 12: per-episode accuracies with a 2-point seed-to-seed spread of
each method's mean, episode difficulty shared by both methods (one episode set for
every seed), and either no true difference (size: how often a cell is marked
significantly worse; coverage: how often the interval holds the true mean) or a
true 3-point difference (power). Tables are built by the real report code
(fsfer_bench/report/simulation.py); the old report (episodes of every seed pooled)
is shown beside it on the same tables.

    python bench/bench_seed_inference.py [--tables 500] [--episodes 100]
"""

from __future__ import annotations

import argparse
import time

from fsfer_bench.report.simulation import Scenario, simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed-sd", type=float, default=2.0)
    args = parser.parse_args()
    print(f"{args.tables} simulated tables per row; {args.episodes} episodes per seed; seed spread "
          f"{args.seed_sd} points; alpha 0.05")  # fmt: skip
    print(
        f"{'seeds':>5}  {'true diff':>9}  {'fires':>6}  {'covers':>6}  {'old fires':>9}  {'old covers':>10}  {'s':>5}"
    )
    for seeds in (3, 5):
        for difference in (0.0, 3.0):
            start = time.perf_counter()
            scenario = Scenario(seeds=seeds, episodes=args.episodes, seed_sd=args.seed_sd, difference=difference)
            o = simulate(scenario, tables=args.tables)
            print(f"{seeds:>5}  {difference:>9.1f}  {o.fired:>6.1%}  {o.covered:>6.1%}  {o.fired_episode_level:>9.1%}  "
                  f"{o.covered_episode_level:>10.1%}  {time.perf_counter() - start:>5.1f}")  # fmt: skip
    print("fires: share of tables marking a cell significantly worse (size at diff 0, power at diff 3);")
    print("covers: share whose interval for method A holds its true mean; old: episodes of every seed pooled.")


if __name__ == "__main__":
    main()
