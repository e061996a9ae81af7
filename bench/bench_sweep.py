"""Benchmark: a 24-cell sweep on SynFACS, reusing training against naive per-cell training, and --jobs 2 against 1.

The grid of issue 8: 2 methods x 2 splits x 2 shots x 3 seeds (protonet and
egsnet, SynFACS_C and SynFACS_B, 1 and 5 shots, seeds 0-2), quick profile, with
small episode counts, a reduced step budget and 32 px images (the quick profile's
Conv-4 at half its 64 px) so that the three sweeps finish in minutes on a 2-core
CPU. Both splits train on SynFACS-lab, so with reuse one training serves four
cells (two shots x two splits): 6 trainings, not 24.

    python bench/bench_sweep.py [--steps 8] [--episodes 10] [--size 32] [--subjects 24]

Targets: reusing training >= 2x faster than training per cell; --jobs 2 >= 1.6x
faster than --jobs 1. The SynFACS sets are shrunk to --subjects people per domain
(workers import this file as a sweep plugin to do the same) and generated into a
temporary cache before any timing. Each sweep writes to a fresh temporary store.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS_ENV = "BENCH_SWEEP_SYNFACS_SUBJECTS"


def shrink_synfacs() -> None:
    """Run in the benchmark and, as a plugin, in every worker: the same smaller SynFACS everywhere."""
    from fsfer_bench.data.adapters import synfacs

    if os.environ.get(SUBJECTS_ENV):
        synfacs.SUBJECTS = int(os.environ[SUBJECTS_ENV])


shrink_synfacs()


def grid(args: argparse.Namespace, out: Path):
    from fsfer_bench.sweep import Sweep

    return Sweep(
        methods=("protonet", "egsnet"),
        splits=("SynFACS_C", "SynFACS_B"),
        shots=(1, 5),
        seeds=(0, 1, 2),
        flags={"episodes": args.episodes, "image_size": args.size, "device": "cpu", "out": str(out)},
        assignments=(f"train.steps={args.steps}", "train.val_every=0", f"train.checkpoint_every={args.steps}"),
        plugins=(Path(__file__).stem,),
    )


def timed_sweep(args: argparse.Namespace, scratch: Path, name: str, *, reuse: bool, jobs: int):
    """Seconds for the whole sweep into a fresh store, and the accuracies by cell."""
    from fsfer_bench.sweep import SweepOptions, make_executor, plan_sweep, run_sweep, training_groups

    out = scratch / name
    plan = plan_sweep(grid(args, out))
    options = SweepOptions(jobs=jobs, reuse_training=reuse)
    start = time.perf_counter()
    summary = run_sweep(plan, make_executor(options, out), options)
    seconds = time.perf_counter() - start
    if len(summary.done) != 24:
        sys.exit(f"{name}: {len(summary.done)} of 24 cells done; first failure: {summary.failed[0].reason}")
    print(f"  {name:34s} {seconds:7.1f} s   ({len(training_groups(plan.to_run, reuse))} trainings)")
    return seconds, {o.cell.hash: o.record["mean"] for o in summary.done}


def warm_up(args: argparse.Namespace, scratch: Path) -> None:
    """Generate the SynFACS sets into the cache, and import what the first training imports, untimed."""
    import torch

    from fsfer_bench.data.adapters.synfacs import load_synfacs
    from fsfer_bench.data.options import LoadOptions

    for domain in ("lab", "wild"):
        load_synfacs(domain, LoadOptions(image_size=args.size))
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # its first use imports torch._dynamo (seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="training steps per training")
    parser.add_argument("--episodes", type=int, default=10, help="test episodes per cell")
    parser.add_argument("--size", type=int, default=32, help="image size in pixels")
    parser.add_argument("--subjects", type=int, default=24, help="SynFACS people per domain")
    args = parser.parse_args()
    os.environ[SUBJECTS_ENV] = str(args.subjects)
    shrink_synfacs()
    import torch

    from fsfer_bench.executors import available_cpus

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        os.environ["FSFER_CACHE"] = str(scratch / "cache")  # workers inherit it
        print(f"sweep benchmark: 24 cells, {args.steps} steps per training, {args.episodes} episodes per cell, "
              f"{args.size} px, SynFACS {args.subjects} people per domain; torch {torch.__version__}, "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        warm_up(args, scratch)
        naive, naive_means = timed_sweep(args, scratch, "naive (train per cell), --jobs 1", reuse=False, jobs=1)
        reuse, reuse_means = timed_sweep(args, scratch, "reuse training, --jobs 1", reuse=True, jobs=1)
        parallel, parallel_means = timed_sweep(args, scratch, "reuse training, --jobs 2", reuse=True, jobs=2)
    reuse_ratio, jobs_ratio = naive / reuse, reuse / parallel
    print(f"reuse vs naive:   {reuse_ratio:5.2f}x   (target >= 2x: {'met' if reuse_ratio >= 2 else 'MISSED'})")
    print(f"--jobs 2 vs 1:    {jobs_ratio:5.2f}x   (target >= 1.6x: {'met' if jobs_ratio >= 1.6 else 'MISSED'})")
    print(f"reuse gives the naive sweep's accuracies exactly: {reuse_means == naive_means}")
    drift = max(abs(parallel_means[k] - reuse_means[k]) for k in reuse_means)
    print(f"--jobs 2 vs 1, largest difference of a mean accuracy: {drift:.2f} points "
          f"(workers run {max(1, available_cpus() // 2)} torch thread(s) instead of {torch.get_num_threads()}; "
          "CPU float sums depend on the thread count)")  # fmt: skip


if __name__ == "__main__":
    main()
