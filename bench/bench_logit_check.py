"""Benchmark: the cost of the evaluator's logit check (shape, dtype, finiteness, once per episode).

The check runs on both evaluator paths; its cost matters most on the fast path,
where an episode is only a few tiny ops on cached features. This times that path
for 600 episodes (5-way 5-shot, 15 queries, Conv-4 features cached once, so only
the per-episode work is timed) with the check and with it replaced by a no-op,
alternating, and reports the ratio of the best times measured in this one run.
Target: with / without <= 1.05.

    python bench/bench_logit_check.py [--episodes 600] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import fsfer_bench.evaluate as evaluator
from baselines.protonet import ProtoNet
from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.dataset import make_dataset
from fsfer_bench.episodes import EpisodeSpec, sample_episodes

TARGET = 1.05


class _Predicted:
    """Predictions computed as the evaluator did before the check, behind the `.argmax(1)` it now calls."""

    def __init__(self, predicted: np.ndarray) -> None:
        self.predicted = predicted

    def argmax(self, _axis: int) -> np.ndarray:
        return self.predicted


def unchecked(logits: torch.Tensor, *_args: object) -> _Predicted:
    """The evaluator before the check: argmax on the tensor, then the copy to NumPy."""
    return _Predicted(logits.argmax(1).cpu().numpy())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(15 * 40, 32, 32, 3), dtype=np.uint8)
    pool = make_dataset("bench", images, [f"class{c:02d}" for c in range(15) for _ in range(40)])
    episodes = sample_episodes(pool, EpisodeSpec(5, 5, 15, args.episodes, seed=0))
    torch.manual_seed(0)
    method = ProtoNet(build_backbone("conv4", 32)).eval()
    cache = evaluator.FeatureCache()
    evaluator.evaluate(method, pool, episodes, cache=cache)  # embeds every image once: not timed below

    checked = evaluator.check_logits
    best = {"with check": float("inf"), "without": float("inf")}
    for _ in range(args.repeats):
        for name, check in (("with check", checked), ("without", unchecked)):
            evaluator.check_logits = check
            start = time.perf_counter()
            evaluator.evaluate(method, pool, episodes, cache=cache)
            best[name] = min(best[name], time.perf_counter() - start)
    evaluator.check_logits = checked

    ratio = best["with check"] / best["without"]
    per_episode_us = (best["with check"] - best["without"]) / args.episodes * 1e6
    print(f"torch {torch.__version__}; {args.episodes} episodes 5-way 5-shot 15 queries on cached features; "
          f"best of {args.repeats}")  # fmt: skip
    for name, seconds in best.items():
        print(f"fast path, {name:<11} {seconds:8.3f} s")
    print(f"with / without: {ratio:.3f}x ({per_episode_us:+.1f} us per episode)   "
          f"(target <= {TARGET}x: {'met' if ratio <= TARGET else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
