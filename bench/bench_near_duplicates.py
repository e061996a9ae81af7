"""Benchmark: the near-duplicate check's cost against a long training, as a ratio measured in one run.

The question: does the check every run makes (`near_duplicates.drop_near_duplicates`)
stay under 10% of a long training? It times, in this one process and on the
same pools:

- the check of the wild base (FER2013 train + SFEW Train, 29,568 images here)
  against CFEE, cold (no cached pairs: both pools' pixel content ids, the
  thumbnails, the correlations) and cached (content ids and one small JSON read);
- `--steps` steps of ProtoNet's long profile (2,000 steps of 5-way 5-shot
  5-query at 48 px, one torch thread) on that base, scaled to its 2,000 steps;

and prints check / long training. It also prints what the check finds between
CK+48 and FER2013 (the known copy, and the closest pairs it leaves out), so the
threshold's margins are seen beside its cost.

    FSFER_DATA=../shared/datasets OMP_NUM_THREADS=1 python bench/bench_near_duplicates.py [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

SIZE = 48  # the long profile's image size
LONG_STEPS = 2000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", default=os.environ.get("FSFER_DATA"))
    parser.add_argument("--steps", type=int, default=40, help="training steps timed (scaled to 2,000)")
    args = parser.parse_args()
    if not args.data_root:
        parser.error("set FSFER_DATA or --data-root to the shared datasets folder")
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start; {SIZE} px, 1 torch thread")
    base, cfee, ck, fer = _pools(args.data_root)
    check_cold, check_cached, removed = _time_check(base, cfee)
    step = _seconds_per_step(base, args.steps)
    long_training = step * LONG_STEPS
    print(f"check, wild base ({len(base)} images) x CFEE ({len(cfee)}): cold {check_cold:.2f} s, "
          f"cached {check_cached:.2f} s; {removed} training image(s) removed")  # fmt: skip
    print(f"ProtoNet long profile: {step:.3f} s/step over {args.steps} steps -> {long_training:.0f} s for {LONG_STEPS}")
    print(f"RATIO check (cold) / long training = {check_cold / long_training:.4f} (target < 0.10); "
          f"cached: {check_cached / long_training:.4f}")  # fmt: skip
    _margins(ck, fer)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other work on this machine slows every figure)")


def _pools(data_root: str) -> tuple:
    from fsfer_bench.data.dataset import concat
    from fsfer_bench.data.loading import DataSources, load_dataset
    from fsfer_bench.data.options import LoadOptions

    sources, options = DataSources.from_settings(data_root), LoadOptions(image_size=SIZE)
    fer, sfew = load_dataset("FER2013", sources, options), load_dataset("SFEW", sources, options)
    return concat([fer, sfew]), load_dataset("CFEE", sources, options), load_dataset("CKplus", sources, options), fer


def _time_check(base, cfee) -> tuple[float, float, int]:
    from fsfer_bench.data.near_duplicates import drop_near_duplicates

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FSFER_CACHE"] = cache  # an empty cache: the first check finds the pairs
        start = time.perf_counter()
        _, removal = drop_near_duplicates(base, cfee)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        drop_near_duplicates(base, cfee)
        cached = time.perf_counter() - start
    return cold, cached, len(removal.removed)


def _seconds_per_step(base, steps: int) -> float:
    from fsfer_bench.config import resolve_config
    from fsfer_bench.experiment import base_classes, resolve_device, train

    config = resolve_config(
        {"method": "protonet", "profile": "long", "split": "CFEE_C", "train_on": ["wild"]},
        assignments=[f"train.steps={steps}", "train.val_every=0"],
    )
    pool = base.with_classes(base_classes(base))
    start = time.perf_counter()
    train(config, pool, resolve_device("cpu"))
    return (time.perf_counter() - start) / steps


def _margins(ck, fer) -> None:
    """The known copy, and the closest CK+48/FER2013 pairs below the threshold."""
    from fsfer_bench.data.near_duplicates import THRESHOLD, thumbnails

    corr = thumbnails(ck.images) @ thumbnails(fer.images).T
    best = corr.max(axis=1)
    order = np.argsort(-best)[:8]
    print(f"CK+48 x FER2013, best FER2013 match of each CK+48 image (threshold {THRESHOLD}):")
    for k in order:
        j = int(corr[k].argmax())
        mark = "near-copy" if best[k] >= THRESHOLD else "kept"
        print(f"  {best[k]:.3f}  {ck.files[k]} ~ {fer.files[j]}  {mark}")


if __name__ == "__main__":
    main()
