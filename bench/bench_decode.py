"""Benchmark: decoding CFEE once into the cache, then loading it from the cache.

Setting of the real-datasets issue: the shared CFEE (1,165 JPEGs of 320x240)
from FSFER_DATA. Targets: the first decode is bounded by JPEG decoding and uses
every core (images/s with 1 and with all workers, and their ratio); a cached
load takes under 1 s. With --face-align, the same for dlib detection and
alignment, with its detection rate.

    FSFER_DATA=../shared/datasets python bench/bench_decode.py [--image-size 64] [--face-align]

Each first load runs against an empty temporary cache, so nothing is reused.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from fsfer_bench.data.images import DecodeJob, decode_files
from fsfer_bench.data.loading import DataSources, load_dataset, locate
from fsfer_bench.data.options import LoadOptions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", default=os.environ.get("FSFER_DATA"))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--face-align", action="store_true")
    args = parser.parse_args()
    if not args.data_root:
        parser.error("set FSFER_DATA or --data-root to the shared datasets folder")
    sources = DataSources.from_settings(args.data_root)
    adapter, folder = locate("CFEE", sources)
    options = LoadOptions(image_size=args.image_size, face_align=args.face_align)
    listing = adapter.scan(folder, options)
    jobs = [DecodeJob(str(i.path), args.image_size, i.box, i.relative) for i in listing.items]
    cores = os.cpu_count() or 1
    print(f"CFEE: {len(jobs)} images, {cores} cores, image size {args.image_size}, face align {args.face_align}")

    rates = {}
    for workers in sorted({1, cores}):
        seconds, fallbacks = _decode(jobs, workers, args.face_align)
        rates[workers] = len(jobs) / seconds
        found = f", faces found {len(jobs) - fallbacks}/{len(jobs)}" if args.face_align else ""
        print(f"decode, {workers} worker(s): {seconds:6.2f} s  {rates[workers]:7.1f} images/s{found}")
    if cores > 1:
        print(f"speed-up with {cores} workers: {rates[cores] / rates[1]:.2f}x (ideal {cores}x)")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FSFER_CACHE"] = cache
        start = time.perf_counter()
        load_dataset("CFEE", sources, options)
        first = time.perf_counter() - start
        loads = []
        for _ in range(5):
            start = time.perf_counter()
            dataset = load_dataset("CFEE", sources, options)
            loads.append(time.perf_counter() - start)
        size = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file()) / 2**20
    print(f"first load (decode + cache): {first:6.2f} s; cache {size:.1f} MiB")
    print(f"cached load: best {min(loads):.3f} s, worst {max(loads):.3f} s over 5 (target < 1 s); "
          f"{'OK' if max(loads) < 1 else 'SLOW'}; {len(dataset)} images, memory-mapped")  # fmt: skip


def _decode(jobs: list[DecodeJob], workers: int, align: bool) -> tuple[float, int]:
    start = time.perf_counter()
    fallbacks = 0
    if align:
        from fsfer_bench.data.faces import align_files

        _, _, _, fallbacks = align_files(jobs, margin=LoadOptions.align_margin, workers=workers)
    else:
        decode_files(jobs, workers=workers)
    return time.perf_counter() - start, fallbacks


if __name__ == "__main__":
    main()
