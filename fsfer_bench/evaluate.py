"""The evaluator: the only place that runs test episodes.

Fast path, for `FeatureMethod`s: embed every image the episodes use once
(batched, eval mode, no grad), then classify each episode on cached features.
Per-episode path, the reference: each episode on its own images. A
`FeatureMethod`'s episode is embedded there (eval mode) and classified; any
other method's is answered by `predict`. Both record the accuracy of each
episode and a confusion matrix over the pool's classes.

The two paths give exactly the same answers, not merely close ones, because
nothing an image's features are computed with differs between them: every
forward pass holds exactly `batch_size` images (the last one padded), so kernels
that a batch's size selects (a single image takes other CPU kernels, a
different cuDNN algorithm may serve another size) are the same for every image;
and `classify` runs on one thread in both, so its float sums are ordered alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.episodes import EpisodeSet
from fsfer_bench.errors import FsferError, MethodOutputError
from fsfer_bench.methods import FeatureMethod, FewShotMethod
from fsfer_bench.tensors import method_inputs

#: A progress-bar factory with tqdm's call signature, `progress(iterable, **options) -> iterable`: the CLI's
#: draws bars, `no_progress` draws nothing. The one definition: training, experiments and sweeps import it.
Progress = Callable[..., Iterable]
#: Images per forward pass when embedding for evaluation, in both paths. Small enough that padding an
#: episode's 50-100 images up to it costs the per-episode path little, large enough to keep a GPU busy.
EMBED_BATCH = 64


def no_progress(iterable: Iterable, **_kwargs: object) -> Iterable:
    return iterable


@dataclass(frozen=True)
class EvaluationResult:
    accuracies: np.ndarray  # (E,) per-episode accuracy, percent
    confusion: np.ndarray  # (C, C) counts over pool classes, rows true, columns predicted
    seconds: float
    path: str  # "feature-cache" or "per-episode"


def uses_feature_cache(method: FewShotMethod, feature_cache: bool) -> bool:
    return feature_cache and isinstance(method, FeatureMethod)


def evaluate(
    method: FewShotMethod,
    pool: FaceDataset,
    episodes: EpisodeSet,
    *,
    device: torch.device | str = "cpu",
    feature_cache: bool = True,
    batch_size: int = EMBED_BATCH,
    progress: Progress = no_progress,
    cache: FeatureCache | None = None,
) -> EvaluationResult:
    """Run every episode of `episodes` (drawn from `pool`) through `method`.

    `cache` lets several evaluations of one trained method on one pool (the
    1-shot and 5-shot sets of a run) embed each image only once between them.
    """
    start = time.perf_counter()
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            run_episode, path = episode_runner(
                method, pool, episodes, device=device, feature_cache=feature_cache, batch_size=batch_size,
                progress=progress, cache=cache,
            )  # fmt: skip
            # classifying cached features is tiny ops: one thread (see one_thread); a per-episode pass embeds
            with one_thread() if path == "feature-cache" else nullcontext():
                accuracies, confusion = _run(run_episode, episodes, len(pool.classes), progress, method.name)
    finally:
        method.train(was_training)
    return EvaluationResult(accuracies, confusion, time.perf_counter() - start, path)


def episode_runner(
    method: FewShotMethod,
    pool: FaceDataset,
    episodes: EpisodeSet,
    *,
    device: torch.device | str = "cpu",
    feature_cache: bool = True,
    batch_size: int = EMBED_BATCH,
    progress: Progress = no_progress,
    cache: FeatureCache | None = None,
) -> tuple[EpisodeRunner, str]:
    """The function that answers one episode `(support, query) -> logits` as `evaluate` runs it, and its
    path's name ("feature-cache" or "per-episode"); for tests of what the evaluator computes per query.
    Call it in eval mode, without gradients, as `evaluate` does."""
    if uses_feature_cache(method, feature_cache):
        runner = _cached_features(method, pool, episodes, device, batch_size, progress, cache or FeatureCache())
        return runner, "feature-cache"
    return _per_episode(method, pool, device, batch_size), "per-episode"


@contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny tensor ops on one thread.

    Classifying an episode on cached features is a handful of ops on a few
    hundred numbers; with several threads each op waits on a thread barrier,
    which on a busy 2-core machine made them 100x slower (13 s vs 0.13 s for
    100 episodes, measured here).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class FeatureCache:
    """Features of pool images under one trained method, embedded once, added to as needed."""

    def __init__(self) -> None:
        self.indices = np.empty(0, dtype=np.int64)
        self.values: torch.Tensor | None = None

    def features(
        self, method: FeatureMethod, pool: FaceDataset, needed: np.ndarray, device: torch.device | str,
        batch_size: int, progress: Progress,
    ) -> tuple[np.ndarray, torch.Tensor]:  # fmt: skip
        """(sorted indices, their features), covering at least `needed`."""
        missing = np.setdiff1d(needed, self.indices)
        if len(missing) or self.values is None:
            new = embed_pool(method, pool, missing, device=device, batch_size=batch_size, progress=progress)
            indices = np.concatenate([self.indices, missing])
            order = np.argsort(indices, kind="stable")
            values = new if self.values is None else torch.cat([self.values, new])
            self.indices, self.values = indices[order], values[torch.from_numpy(order).to(values.device)]
        return self.indices, self.values


#: (support (N, K), query (N, Q)) pool indices -> logits (N*Q, N)
EpisodeRunner = Callable[[np.ndarray, np.ndarray], torch.Tensor]


def check_logits(logits: object, n_query: int, n_way: int, method: str) -> np.ndarray:
    """`logits` as a NumPy array if they are a floating (n_query, n_way) tensor of finite numbers, else
    `MethodOutputError`.

    Without this, NaN or inf logits (argmax picks class 0) or a wrong number of columns
    score exactly chance in a clean-looking record. The finiteness test runs in NumPy on
    the copy the predictions are taken from anyway: a few torch ops per episode would cost
    more than the fast path's whole episode (bench/bench_logit_check.py measures it).
    """
    expected = f"expected a float tensor of shape ({n_query}, {n_way}): one row per query, one column per class"
    if not isinstance(logits, torch.Tensor):
        raise MethodOutputError(f"method {method} returned a {type(logits).__name__} as logits; {expected}")
    if tuple(logits.shape) != (n_query, n_way):
        raise MethodOutputError(f"method {method} returned logits of shape {tuple(logits.shape)}; {expected}")
    if not logits.is_floating_point():
        raise MethodOutputError(f"method {method} returned {logits.dtype} logits (labels?); {expected}")
    values = logits.detach().float().cpu().numpy()  # float(): NumPy has no bfloat16
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(finite.size - finite.sum())
        raise MethodOutputError(
            f"method {method} returned {bad} non-finite logit(s) (NaN or inf) of {logits.numel()}; "
            "a NaN in its weights or an overflow in its maths: check its training (or lower the learning rate)"
        )
    return values


def _run(
    run_episode: EpisodeRunner, episodes: EpisodeSet, n_classes: int, progress: Progress, method_name: str
) -> tuple[np.ndarray, np.ndarray]:
    way, query = episodes.query.shape[1:]
    query_labels = np.repeat(np.arange(way), query)
    accuracies = np.empty(len(episodes))
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for e in progress(range(len(episodes)), desc="evaluate", total=len(episodes)):
        try:
            logits = check_logits(run_episode(episodes.support[e], episodes.query[e]), way * query, way, method_name)
        except FsferError as exc:  # a method's error (e.g. a NaN in test-time adaptation) names the episode
            raise type(exc)(f"{exc} (episode {e + 1} of {len(episodes)})") from exc
        predicted = logits.argmax(1)
        accuracies[e] = 100.0 * float(np.mean(predicted == query_labels))
        classes = episodes.classes[e]
        np.add.at(confusion, (classes[query_labels], classes[predicted]), 1)
    return accuracies, confusion


def _support_labels(support: np.ndarray, device: torch.device | str) -> torch.Tensor:
    way, shot = support.shape
    return torch.arange(way, device=device).repeat_interleave(shot)


def _cached_features(
    method: FeatureMethod,
    pool: FaceDataset,
    episodes: EpisodeSet,
    device: torch.device | str,
    batch_size: int,
    progress: Progress,
    cache: FeatureCache,
) -> EpisodeRunner:
    used, features = cache.features(method, pool, episodes.used_indices(), device, batch_size, progress)
    labels = _support_labels(episodes.support[0], device)

    def run_episode(support: np.ndarray, query: np.ndarray) -> torch.Tensor:
        s = torch.from_numpy(np.searchsorted(used, support.ravel())).to(device)
        q = torch.from_numpy(np.searchsorted(used, query.ravel())).to(device)
        return method.classify(features[s], labels, features[q])

    return run_episode


def _per_episode(
    method: FewShotMethod, pool: FaceDataset, device: torch.device | str, batch_size: int
) -> EpisodeRunner:
    def predict(support: np.ndarray, query: np.ndarray) -> torch.Tensor:
        support_in, query_in = (method_inputs(method, pool, i.ravel(), device) for i in (support, query))
        return method.predict(support_in, _support_labels(support, device), query_in)

    def embed_and_classify(support: np.ndarray, query: np.ndarray) -> torch.Tensor:
        features = embed_pool(method, pool, np.concatenate([support.ravel(), query.ravel()]), device=device,
                              batch_size=batch_size)  # fmt: skip
        with one_thread():
            return method.classify(features[: support.size], _support_labels(support, device), features[support.size :])

    return embed_and_classify if isinstance(method, FeatureMethod) else predict


def embed_pool(
    method: FeatureMethod,
    pool: FaceDataset,
    indices: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = EMBED_BATCH,
    progress: Progress = no_progress,
) -> torch.Tensor:
    """Features of pool images `indices`, in order, under no gradients (callers set eval mode).

    Every forward pass holds exactly `batch_size` images, the last one padded
    with copies of its first image, so that an image's features do not depend on
    how many images it was embedded with (see the module docstring).
    """
    chunks = []
    starts = range(0, len(indices), batch_size)
    with torch.no_grad():
        for i in progress(starts, desc="embed", total=len(starts)):
            chunk = indices[i : i + batch_size]
            padded = np.concatenate([chunk, np.repeat(chunk[:1], batch_size - len(chunk))])
            chunks.append(method.embed(method_inputs(method, pool, padded, device))[: len(chunk)])
    return torch.cat(chunks)
