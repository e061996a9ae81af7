"""Benchmark: FER2013's training partition (28,709 images) decoded once, then loaded from the cache.

The question it answers is whether the data pipeline scales to the large
in-the-wild sets (AffectNet's 287k training images): per image size, the first
load (listing, decode, resize, cache write) in images/s, the cached load
(memory-map) and a full pass over the cached pixels, the cache's bytes per
image on disk, and peak resident memory of this process and of the decode
workers (resource.getrusage). Each size runs in a fresh process against an
empty temporary cache, so peaks are per size and nothing is reused.

    FSFER_DATA=../shared/datasets python bench/bench_data_scale.py [--sizes 48,64,224]

Decoding uses the harness's default pool: one worker process per core.

docs/datasets.md projects these figures to AffectNet.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATASET = "FER2013"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", default=os.environ.get("FSFER_DATA"))
    parser.add_argument("--sizes", default="48,64", help="image sizes, comma-separated (224 needs ~4.3 GB of disk)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size in this process
    args = parser.parse_args()
    if not args.data_root:
        parser.error("set FSFER_DATA or --data-root to the shared datasets folder")
    if args.one:
        print(json.dumps(measure(args.data_root, args.one)))
        return
    print(f"{DATASET} from {args.data_root}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'px':>4} {'images':>7} {'first load s':>12} {'images/s':>9} {'cached s':>9} {'read s':>7} "
          f"{'bytes/image':>11} {'cache MB':>9} {'peak MB':>8} {'workers peak MB':>15}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--data-root", args.data_root, "--one", str(size)]
        r = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(f"{size:>4} {r['images']:>7} {r['first_s']:>12.1f} {r['images'] / r['first_s']:>9.0f} "
              f"{r['cached_s']:>9.3f} {r['read_s']:>7.2f} {r['bytes_per_image']:>11.0f} {r['cache_mb']:>9.1f} "
              f"{r['peak_mb']:>8.0f} {r['children_peak_mb']:>15.0f}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other work on this machine slows every figure)")


def measure(data_root: str, size: int) -> dict:
    """One size, in this (fresh) process, against an empty temporary cache."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FSFER_CACHE"] = cache
        from fsfer_bench.data.loading import DataSources, load_dataset
        from fsfer_bench.data.options import LoadOptions

        sources, options = DataSources.from_settings(data_root), LoadOptions(image_size=size)
        start = time.perf_counter()
        dataset = load_dataset(DATASET, sources, options)
        first = time.perf_counter() - start
        cached, read = [], []
        for _ in range(3):
            start = time.perf_counter()
            dataset = load_dataset(DATASET, sources, options)
            cached.append(time.perf_counter() - start)
            start = time.perf_counter()
            int(np.asarray(dataset.images).sum(dtype=np.int64))  # every cached pixel, through the memory map
            read.append(time.perf_counter() - start)
        files = [p for p in Path(cache).rglob("*") if p.is_file()]
        images_bytes = sum(p.stat().st_size for p in files if p.name == "images.npy")
        return {
            "images": len(dataset),
            "first_s": first,
            "cached_s": min(cached),
            "read_s": min(read),
            "bytes_per_image": images_bytes / len(dataset),
            "cache_mb": sum(p.stat().st_size for p in files) / 2**20,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
            "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }


if __name__ == "__main__":
    main()
