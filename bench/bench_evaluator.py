"""Benchmark: the evaluator's fast path (embed once) against the per-episode reference.

Setting of the core issue: 600 episodes, 5-way 5-shot, 15 queries, Conv-4 at
84x84, on this CPU. Targets: fast path >= 20x faster than per-episode; both give
identical accuracies; fast path <= 1.5x one forward pass over the pool.

    python bench/bench_evaluator.py [--episodes 600] [--size 84]

The pool has the shape of a compound test pool (15 classes x 80 images): a
random pattern per class plus noise per image, so accuracies are not degenerate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines.protonet import ProtoNet
from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.dataset import make_dataset
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import embed_pool, evaluate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--size", type=int, default=84)
    parser.add_argument("--classes", type=int, default=15)
    parser.add_argument("--per-class", type=int, default=80)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.classes * args.per_class
    patterns = rng.normal(size=(args.classes, args.size, args.size, 3))
    noise = rng.normal(size=(n, args.size, args.size, 3))
    images = np.clip(127 + 40 * (0.12 * np.repeat(patterns, args.per_class, axis=0) + noise), 0, 255).astype(np.uint8)
    labels = [f"class{c:02d}" for c in range(args.classes) for _ in range(args.per_class)]
    pool = make_dataset("bench", images, labels)
    episodes = sample_episodes(pool, EpisodeSpec(5, 5, 15, args.episodes, seed=0))
    torch.manual_seed(0)
    method = ProtoNet(build_backbone("conv4", args.size)).eval()

    start = time.perf_counter()
    embed_pool(method, pool, np.arange(n))
    forward = time.perf_counter() - start
    fast = evaluate(method, pool, episodes, feature_cache=True)
    slow = evaluate(method, pool, episodes, feature_cache=False)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; pool {n} images at {args.size}px; "
          f"{args.episodes} episodes 5-way 5-shot 15 queries; Conv-4")  # fmt: skip
    print(f"one forward pass over the pool: {forward:8.2f} s")
    print(f"fast path (feature cache):      {fast.seconds:8.2f} s")
    print(f"per-episode path:               {slow.seconds:8.2f} s")
    speedup, overhead = slow.seconds / fast.seconds, fast.seconds / forward
    same = np.array_equal(fast.accuracies, slow.accuracies)
    print(f"speed-up of the fast path:      {speedup:8.1f}x   (target >= 20x: {'met' if speedup >= 20 else 'MISSED'})")
    print(
        f"fast path / one forward pass:   {overhead:8.2f}x   (target <= 1.5x: {'met' if overhead <= 1.5 else 'MISSED'})"
    )
    print(f"identical per-episode accuracies: {same}   (mean {fast.accuracies.mean():.2f} %)")


if __name__ == "__main__":
    main()
