"""Benchmark: MAML evaluation through the harness against the bare work, loop against vmap, first against second order.

Setting of the baselines issue: Conv-4 at 64 px, 5-way 1-shot, 15 queries per
class, 5 inner steps, BatchNorm on batch statistics (the default policy).

- harness: `evaluate(..., feature_cache=False)`, the per-episode path, per episode;
- bare: the same work timed in isolation, in plain PyTorch: the inner steps'
  forward and backward on the support set (SGD in place, from a weight reset),
  then one forward pass on the queries, on tensors already made;
- loop / vmap: `adapt_and_query` on a batch of episodes, under no_grad as in
  evaluation, by each path (the evaluator itself runs one episode at a time,
  which is always the loop);
- first / second order: at evaluation (both detach the meta-parameters, so
  they should cost the same), and in a meta-training step (meta-batch of 4),
  where the order changes the work.

With `--sizes 32,48`: the cost of the image size alone, in the `long` profile's setting (first order,
meta-batches of 2 episodes of 5-way 1-shot with 5 queries, 5 inner steps): one meta-training step, and
one 5-shot test episode with 15 queries (10 inner steps at test, as the profile sets), at each size,
raced in turn, as ratios to the smallest size.

Targets: harness <= 1.3x bare; first order >= 1.5x faster than second order.
Peak memory: the resident-set high-water mark per measurement on CPU (Linux
/proc/self/status VmHWM, reset before each; else the process's ru_maxrss), and
torch.cuda.max_memory_allocated on CUDA.

    python bench/bench_maml.py [--episodes 20] [--vmap-episodes 32] [--repeats 3] [--device cpu|cuda|all]
                               [--threads N] [--sizes 32,48]

The pool is random pixels; pixel content does not change the cost.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.maml import MAML, Options
from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.dataset import make_dataset
from fsfer_bench.episodes import EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import Episode, StepData
from fsfer_bench.tensors import to_tensor

WAY, SHOT, QUERY, INNER_STEPS, INNER_LR = 5, 1, 15, 5, 0.01
_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


class Peak:
    """Peak memory of one measurement, in MiB."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
        elif _CLEAR.exists():
            with contextlib.suppress(OSError):
                _CLEAR.write_text("5")  # resets VmHWM to the current resident size

    def read(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.max_memory_allocated(self.device) / 2**20:7.0f} MiB GPU"
        if _STATUS.exists():
            for line in _STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return f"{int(line.split()[1]) / 1024:7.0f} MiB RSS"
        return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MiB RSS (process peak)"


def race(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, peak: Peak) -> dict:
    """Best wall time and its peak memory for each function, over `repeats` rounds run in turn (a, b, a, b, ...)
    after one warm-up each, so that the load of a shared machine falls on all of them alike."""
    for fn in fns.values():
        fn()
    best = {name: (float("inf"), "") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            peak.reset()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if elapsed < best[name][0]:
                best[name] = (elapsed, peak.read())
    return best


def make_pool(size: int, classes: int = 15, per_class: int = 40):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(classes * per_class, size, size, 3), dtype=np.uint8)
    labels = [f"class{c:02d}" for c in range(classes) for _ in range(per_class)]
    return make_dataset("bench", images, labels)


def method_for(size: int, device: torch.device, **options: object) -> MAML:
    torch.manual_seed(0)
    options = Options(inner_steps=INNER_STEPS, inner_lr=INNER_LR, **options)
    return MAML(build_backbone("conv4", size), options).to(device)


def episode_tensors(pool, episodes: EpisodeSet, device: torch.device, shot: int = SHOT,
                    query: int = QUERY) -> list[Episode]:  # fmt: skip
    labels = torch.arange(WAY, device=device)
    return [
        Episode(to_tensor(pool.images[episodes.support[e].ravel()], device), labels.repeat_interleave(shot),
                to_tensor(pool.images[episodes.query[e].ravel()], device), labels.repeat_interleave(query), labels)
        for e in range(len(episodes))
    ]  # fmt: skip


def bare_network(size: int, device: torch.device) -> nn.Module:
    """Conv-4 and a linear head in plain PyTorch, BatchNorm on batch statistics, as the method's default."""
    torch.manual_seed(0)
    net = nn.Sequential(build_backbone("conv4", size), nn.LazyLinear(WAY))
    net(torch.zeros(2, 3, size, size))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked = False, None, None, None
    return net.to(device).train()


def bare_run(net: nn.Module, tensors: list[Episode]) -> None:
    """Per episode: reset, INNER_STEPS x (forward + backward on the support, SGD step), forward on the queries."""
    params = list(net.parameters())
    start = [p.detach().clone() for p in params]
    for ep in tensors:
        with torch.no_grad():
            for p, s in zip(params, start):
                p.copy_(s)
        for _ in range(INNER_STEPS):
            loss = F.cross_entropy(net(ep.support), ep.support_labels)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(INNER_LR * g)
        with torch.no_grad():
            net(ep.query).argmax(1)


def bench_device(device: torch.device, args: argparse.Namespace) -> None:
    size, n = args.size, args.episodes
    pool = make_pool(size)
    episodes = sample_episodes(pool, EpisodeSpec(WAY, SHOT, QUERY, n, seed=0))
    tensors = episode_tensors(pool, episodes, device)
    peak = Peak(device)
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(f"\n== {device}{threads}: Conv-4 {size} px, {WAY}-way {SHOT}-shot {QUERY} queries, {INNER_STEPS} inner steps")

    second, first = method_for(size, device), method_for(size, device, first_order=True)
    net = bare_network(size, device)

    def harness(method: MAML) -> Callable[[], object]:
        return lambda: evaluate(method, pool, episodes, device=device, feature_cache=False)

    times = race({"second": harness(second), "bare": lambda: bare_run(net, tensors), "first": harness(first)},
                 device, args.repeats, peak)  # fmt: skip
    (t_harness, m_harness), (t_bare, m_bare), (t_first, m_first) = times["second"], times["bare"], times["first"]
    ratio, speedup = t_harness / t_bare, t_harness / t_first
    print(f"harness, per episode:            {1e3 * t_harness / n:8.1f} ms   peak {m_harness}")
    print(f"bare work, per episode:          {1e3 * t_bare / n:8.1f} ms   peak {m_bare}")
    print(f"harness / bare:                  {ratio:8.2f}x   (target <= 1.3x: {'met' if ratio <= 1.3 else 'MISSED'})")
    print(f"evaluation, first order:         {1e3 * t_first / n:8.1f} ms/episode   peak {m_first}")
    verdict = "met" if speedup >= 1.5 else "MISSED"
    print(f"evaluation, second / first:      {speedup:8.2f}x   (target >= 1.5x: {verdict}; no meta-gradient at "
          "evaluation, so both orders do the same work)")  # fmt: skip

    batch = episode_tensors(pool, sample_episodes(pool, EpisodeSpec(WAY, SHOT, QUERY, args.vmap_episodes, seed=1)),
                            device)  # fmt: skip
    second.eval()
    logits = {}

    def adapt(path: str) -> Callable[[], object]:
        def run() -> None:
            with torch.no_grad():
                logits[path] = second.adapt_and_query(batch, path=path)

        return run

    times = race({"loop": adapt("loop"), "vmap": adapt("vmap")}, device, args.repeats, peak)
    (t_loop, m_loop), (t_vmap, m_vmap) = times["loop"], times["vmap"]
    gap = (logits["loop"] - logits["vmap"]).abs().max().item()
    print(f"{len(batch)} episodes adapted, loop:      {t_loop:8.2f} s   peak {m_loop}")
    print(f"{len(batch)} episodes adapted, vmap:      {t_vmap:8.2f} s   peak {m_vmap}")
    print(f"vmap / loop:                     {t_vmap / t_loop:8.2f}x   (max |logit difference| {gap:.1e}, float32)")
    exact = method_for(size, device).double().eval()
    in64 = [Episode(e.support.double(), e.support_labels, e.query.double(), e.query_labels, e.classes)
            for e in batch[:4]]  # fmt: skip
    with torch.no_grad():
        gap64 = (exact.adapt_and_query(in64, path="loop") - exact.adapt_and_query(in64, path="vmap")).abs().max()
    print(f"  in float64 (4 episodes):       {gap64.item():.1e}   (the rest is float32 rounding, grown by inner steps)")

    meta_batch = batch[:4]

    def meta_step(method: MAML) -> Callable[[], object]:
        def step() -> None:
            method.train().zero_grad()
            method.meta_loss(StepData(step=0, episodes=meta_batch)).backward()

        return step

    times = race({"first": meta_step(first), "second": meta_step(second)}, device, args.repeats, peak)
    (t_fo, m_fo), (t_so, m_so) = times["first"], times["second"]
    print(f"meta-training step (4 episodes), first order:  {t_fo:6.2f} s   peak {m_fo}")
    print(f"meta-training step (4 episodes), second order: {t_so:6.2f} s   peak {m_so}")
    print(f"training, second / first:        {t_so / t_fo:8.2f}x")


def bench_sizes(sizes: list[int], device: torch.device, repeats: int) -> None:
    """The `long` profile's meta-training step and a 5-shot test episode at each image size, as ratios."""
    peak, fns = Peak(device), {}
    for size in sizes:
        pool = make_pool(size)
        train = episode_tensors(pool, sample_episodes(pool, EpisodeSpec(WAY, 1, 5, 2, seed=0)), device, 1, 5)
        test = episode_tensors(pool, sample_episodes(pool, EpisodeSpec(WAY, 5, 15, 1, seed=1)), device, 5, 15)[0]
        method = method_for(size, device, first_order=True, test_inner_steps=10)

        def step(method: MAML = method, train: list[Episode] = train) -> None:
            method.train().zero_grad()
            method.meta_loss(StepData(step=0, episodes=train)).backward()

        def episode(method: MAML = method, test: Episode = test) -> None:
            with torch.no_grad():
                method.eval().predict(test.support, test.support_labels, test.query)

        fns[f"step {size}"], fns[f"test {size}"] = step, episode
    times = race(fns, device, repeats, peak)
    print(f"\n== {device}: image size, first order, meta-batch 2 of 5-way 1-shot 5 queries; test 5-shot 15 queries")
    for kind in ("step", "test"):
        base = times[f"{kind} {sizes[0]}"][0]
        for size in sizes:
            t = times[f"{kind} {size}"][0]
            print(f"{kind} at {size:3d} px: {1e3 * t:8.1f} ms   {t / base:5.2f}x of {sizes[0]} px")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--vmap-episodes", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's); 1 is steadier on a shared machine")
    parser.add_argument("--sizes", help="only compare these image sizes, e.g. 32,48 (the long profile's setting)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}")
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        raise SystemExit("no CUDA device")
    for device in devices:
        if args.sizes:
            bench_sizes([int(v) for v in args.sizes.split(",")], device, args.repeats)
        else:
            bench_device(device, args)


if __name__ == "__main__":
    main()
