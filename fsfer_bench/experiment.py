"""One run: build the pools, train once, evaluate once per shot, store one record per shot.

Everything the CLI's `run` does is here, callable from Python:

    from fsfer_bench.config import resolve_config
    from fsfer_bench.experiment import run
    records = run(resolve_config({"method": "protonet", "split": "SynFACS_C", "episodes": 200}))
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fsfer_bench.config import RunConfig, method_options
from fsfer_bench.data.dataset import FaceDataset, concat
from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import is_compound
from fsfer_bench.determinism import reproducible_training
from fsfer_bench.episodes import EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.errors import ConfigError, DataError, FsferWarning
from fsfer_bench.evaluate import FeatureCache, Progress, evaluate, no_progress
from fsfer_bench.methods import FewShotMethod
from fsfer_bench.registry import get_method
from fsfer_bench.results import Store, environment, new_record_id, utc_now, write_json_atomic
from fsfer_bench.splits import TRAIN_SETS, Split, expand_train_on, get_split
from fsfer_bench.stats import summarise
from fsfer_bench.training import TrainingReport, fit


@dataclass(frozen=True)
class Pools:
    """The target (test) pool and the training pool of a run, with what the record should say of them."""

    target: FaceDataset
    train: FaceDataset
    train_on: tuple[str, ...]
    overlap_classes: tuple[str, ...]
    skipped_sources: tuple[str, ...] = ()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device '{name}'; use auto, cpu or cuda")
    return torch.device(name)


def load_options(config: RunConfig) -> LoadOptions:
    return LoadOptions(
        image_size=config.image_size,
        face_align=config.face_align,
        align_margin=config.align_margin,
        strict=config.strict,
        label_map=config.label_map or None,
    )


def target_pool(split: Split, sources: DataSources, options: LoadOptions) -> FaceDataset:
    """The split's test pool: its target dataset, domain and classes."""
    dataset = load_dataset(split.target, sources, options)
    if split.target_domain is not None:
        dataset = dataset.where(dataset.domains == split.target_domain)
    classes = split.target_classes(dataset.classes)
    missing = [c for c in classes if c not in dataset.classes]
    if missing:
        raise DataError(f"{split.name} needs class(es) {', '.join(missing)}, which {dataset.name} lacks")
    return dataset.with_classes(classes, name=split.name)


def training_pool(
    names: tuple[str, ...], split: Split, sources: DataSources, options: LoadOptions, allow_overlap: bool
) -> tuple[FaceDataset, tuple[str, ...], tuple[str, ...]]:
    """The non-compound classes of the training sources, merged by class name.

    Returns (pool, sources used, sources skipped). Sources skipped are those of
    the 'multiple' shorthand that are not present on disk.
    """
    if split.target in names and not allow_overlap:
        raise ConfigError(
            f"training on {split.target}, the target's own dataset, shares its people with the test pool; "
            "choose other --train-on sources, or pass --allow-overlap to do it anyway"
        )
    optional = set(TRAIN_SETS["multiple"]) if len(names) > 1 else set()
    loaded, skipped = [], []
    for name in names:
        try:
            dataset = load_dataset(name, sources, options)
        except DataError:
            if name not in optional:
                raise
            skipped.append(name)
            continue
        loaded.append(dataset.with_classes(base_classes(dataset)))
    if not loaded:
        raise DataError(f"none of the training sources {', '.join(names)} was found under the data root")
    if skipped:
        warnings.warn(
            f"training on {', '.join(d.name for d in loaded)}; not found: {', '.join(skipped)}",
            FsferWarning,
            stacklevel=2,
        )
    return concat(loaded), tuple(d.name for d in loaded), tuple(skipped)


def base_classes(dataset: FaceDataset) -> tuple[str, ...]:
    """The classes a training source contributes: never compound ones, and only its
    meta-training classes where the dataset declares a class partition (mini-ImageNet's 64)."""
    partition = dataset.notes.get("class_partition") or {}
    allowed = set(partition.get("train", dataset.classes))
    return tuple(c for c in dataset.classes if c in allowed and not is_compound(c))


def build_pools(config: RunConfig) -> Pools:
    split = get_split(config.split)
    sources = DataSources.from_settings(config.data_root, config.data_paths)
    options = load_options(config)
    target = target_pool(split, sources, options)
    names = expand_train_on(config.train_on or split.train_on)
    train, used, skipped = training_pool(names, split, sources, options, config.allow_overlap)
    overlap = tuple(c for c in target.classes if c in train.classes)
    return Pools(target, train, used, overlap, skipped)


def build_method(config: RunConfig, num_base_classes: int) -> FewShotMethod:
    from fsfer_bench.backbones import build_backbone

    method_cls = get_method(config.method)
    backbone = build_backbone(config.backbone, config.image_size, config.weights)
    return method_cls(backbone, method_options(config, method_cls), num_base_classes)


def sample_test_episodes(config: RunConfig, target: FaceDataset) -> dict[int, EpisodeSet]:
    """One episode set per shot; drawn before training so impossible specs fail in seconds."""
    return {
        shot: sample_episodes(
            target,
            EpisodeSpec(config.way, shot, config.query, config.episodes, config.seed, config.subject_disjoint),
            min_per_class=config.min_per_class,
        )
        for shot in config.shots
    }


def train(
    config: RunConfig,
    pool: FaceDataset,
    device: torch.device,
    progress: Progress = no_progress,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> tuple[FewShotMethod, TrainingReport]:
    """Build and train the method; torch's global RNG is seeded and restored around it."""
    with torch.random.fork_rng(devices=[]), reproducible_training(device):
        torch.manual_seed(config.seed)
        method = build_method(config, len(pool.classes)).to(device)
        report = fit(
            method, pool, config.train, seed=config.seed, device=device, progress=progress,
            checkpoint=checkpoint, resume=resume,
        )  # fmt: skip
    return method, report


class ModelCache:
    """Trained models kept by training hash, so evaluations on other shots or splits reuse one training.

    `<store>/models/<training hash>.pt` holds the state_dict (loaded with
    weights_only=True), `.json` beside it the training report, and `.ckpt.pt` the
    checkpoint of a training still under way, for `--resume`.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def checkpoint(self, training_hash: str) -> Path:
        return self.root / f"{training_hash}.ckpt.pt"

    def load(self, method: FewShotMethod, training_hash: str) -> TrainingReport | None:
        weights, meta = self.root / f"{training_hash}.pt", self.root / f"{training_hash}.json"
        if not (weights.exists() and meta.exists()):
            return None
        try:
            method.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            report = TrainingReport(**json.loads(meta.read_text()))
        except (OSError, ValueError, RuntimeError, TypeError):
            return None  # a damaged cache entry is retrained, not trusted
        return report

    def save(self, method: FewShotMethod, report: TrainingReport, training_hash: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        weights = self.root / f"{training_hash}.pt"
        tmp = weights.with_name(f".{weights.name}.{uuid.uuid4().hex[:8]}")
        torch.save(method.state_dict(), tmp)
        os.replace(tmp, weights)
        write_json_atomic(self.root / f"{training_hash}.json", report.to_dict())
        self.checkpoint(training_hash).unlink(missing_ok=True)


def trained_method(
    config: RunConfig, pool: FaceDataset, device: torch.device, progress: Progress, cache: ModelCache | None,
    resume: bool,
) -> tuple[FewShotMethod, TrainingReport, bool]:  # fmt: skip
    """The trained method: from `cache` if it holds this training, else trained (and cached)."""
    if cache is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            method = build_method(config, len(pool.classes)).to(device)
        report = cache.load(method, config.training_hash())
        if report is not None:
            return method.eval(), report, True
    checkpoint = cache.checkpoint(config.training_hash()) if cache is not None else None
    method, report = train(config, pool, device, progress, checkpoint=checkpoint, resume=resume)
    if cache is not None:
        cache.save(method, report, config.training_hash())
    return method, report, False


def run(
    config: RunConfig,
    *,
    progress: Progress = no_progress,
    store: Store | None = None,
    reuse_training: bool = False,
    resume: bool = False,
) -> list[dict]:
    """Train once and evaluate each shot of `config`; returns the stored records.

    With `reuse_training`, a model trained before with the same training config
    (same `training_hash`) is loaded from the store's model cache instead; with
    `resume`, a training killed midway continues from its last checkpoint.
    """
    store = store or Store(config.out)
    store.check_writable()
    environment()  # versions and commit as of now, before the long part
    device = resolve_device(config.device)
    pools = build_pools(config)
    episode_sets = sample_test_episodes(config, pools.target)
    cache = ModelCache(store.root / "models") if (reuse_training or resume) else None
    method, report, reused = trained_method(config, pools.train, device, progress, cache, resume)
    run_id = uuid.uuid4().hex[:12]
    features = FeatureCache()
    records = []
    for shot, episodes in episode_sets.items():
        result = evaluate(
            method, pools.target, episodes, device=device, feature_cache=config.feature_cache, progress=progress,
            cache=features,
        )  # fmt: skip
        record = make_record(replace(config, shots=(shot,)), pools, episodes, result, report, run_id, device)
        record["training"]["reused"] = reused
        store.write(record, episodes)
        records.append(record)
    return records


def make_record(config: RunConfig, pools: Pools, episodes: EpisodeSet, result, report: TrainingReport,
                run_id: str, device: torch.device) -> dict:  # fmt: skip
    shot = episodes.spec.shot
    summary = summarise(result.accuracies)
    return {
        "schema": 1,
        "record_id": new_record_id(config.method, config.split, shot, config.seed),
        "run_id": run_id,
        "created": utc_now(),
        "method": config.method,
        "split": config.split,
        "target": pools.target.sources[0] if len(pools.target) else None,
        "train_on": list(pools.train_on),
        "train_on_skipped": list(pools.skipped_sources),
        "way": config.way,
        "shot": shot,
        "query": config.query,
        "episodes": config.episodes,
        "seed": config.seed,
        "subject_disjoint": config.subject_disjoint and pools.target.has_subjects,
        "mean": summary.mean,
        "ci95": summary.ci95,
        "ci95_z": summary.ci95_z,
        "std": summary.std,
        "n_episodes": summary.n,
        "accuracies": [round(float(a), 4) for a in result.accuracies],
        "classes": list(pools.target.classes),
        "confusion": result.confusion.tolist(),
        "episode_hash": episodes.hash,
        "train_classes": list(pools.train.classes),
        "overlap_classes": list(pools.overlap_classes),
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "training_hash": config.training_hash(),
        "training": report.to_dict(),
        "evaluation": {"seconds": result.seconds, "path": result.path},
        "target_notes": pools.target.notes,
        "train_notes": pools.train.notes,
        "device": str(device),
        **environment(),
    }


def describe(record: dict) -> str:
    """The one line `run` prints per shot."""
    return (
        f"{record['method']}  {record['split']}  {record['way']}-way {record['shot']}-shot  "
        f"{record['mean']:.2f} ± {record['ci95']:.2f} %  ({record['n_episodes']} episodes, 95% t-CI)"
    )
