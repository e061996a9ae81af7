"""One run: build the pools, train once, evaluate once per shot, store one record per shot.

Everything the CLI's `run` does is here, callable from Python:

    from fsfer_bench.config import resolve_config
    from fsfer_bench.experiment import run
    records = run(resolve_config({"method": "protonet", "split": "SynFACS_C", "episodes": 200}))
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fsfer_bench.config import RunConfig, method_options
from fsfer_bench.data.dataset import FaceDataset, concat
from fsfer_bench.data.loading import DataSources, load_dataset
from fsfer_bench.data.near_duplicates import drop_near_duplicates
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import is_compound
from fsfer_bench.determinism import reproducible_training
from fsfer_bench.episodes import EpisodeSet, EpisodeSpec, sample_episodes
from fsfer_bench.errors import ConfigError, DataError, FsferWarning
from fsfer_bench.evaluate import FeatureCache, Progress, evaluate, no_progress
from fsfer_bench.leakage import check_training_sources, drop_duplicates, same_database_sources
from fsfer_bench.methods import FewShotMethod, TrainSettings
from fsfer_bench.model_cache import CacheMiss, ModelCache
from fsfer_bench.record import Record
from fsfer_bench.registry import dataset_names, get_dataset, get_method
from fsfer_bench.results import Store, environment
from fsfer_bench.splits import TRAIN_SETS, Split, expand_train_on, get_split
from fsfer_bench.training import TrainingReport, fit


@dataclass(frozen=True)
class Pools:
    """The target (test) pool and the training pool of a run, with what the record should say of them."""

    target: FaceDataset
    train: FaceDataset
    train_on: tuple[str, ...]
    overlap_classes: tuple[str, ...]
    skipped_sources: tuple[str, ...] = ()
    same_database: bool = False  # training shares the target's database (leakage.py)
    train_duplicates_removed: int = 0  # training images identical to a test image, dropped
    train_near_duplicates_removed: int = 0  # training images nearly identical to a test image (near_duplicates.py)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not re.fullmatch(r"cuda:\d+", name):
        raise ConfigError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for, but torch sees no CUDA device; use --device cpu or auto")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s), numbered from 0")
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
    check_training_sources(names, split, allow_overlap)
    optional = set(TRAIN_SETS["multiple"]) | set(TRAIN_SETS["wild"]) if len(names) > 1 else set()
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
        looked = ", ".join(_looked_for(name, sources) for name in names)
        raise DataError(f"none of the training sources {', '.join(names)} was found; looked for {looked}")
    if skipped:
        warnings.warn(
            f"training on {', '.join(d.name for d in loaded)}; not found: {', '.join(skipped)}",
            FsferWarning,
            stacklevel=2,
        )
    return concat(loaded), tuple(d.name for d in loaded), tuple(skipped)


def _looked_for(name: str, sources: DataSources) -> str:
    """The folder a dataset was expected in: its --data-path, else its first folder name under the data root."""
    if name in sources.paths:
        return sources.paths[name]
    known = {n.lower(): n for n in dataset_names()}
    folder = get_dataset(known[name.lower()]).folders[0] if name.lower() in known else name
    return f"{sources.root or '<data root>'}/{folder}"


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
    same = bool(same_database_sources(used, split))
    train, removed = drop_duplicates(train, target) if same else (train, 0)
    train, near = drop_near_duplicates(train, target, config.strict, config.face_align)
    overlap = tuple(c for c in target.classes if c in train.classes)
    return Pools(target, train, used, overlap, skipped, same, removed, len(near.removed))


def build_method(config: RunConfig, num_base_classes: int) -> FewShotMethod:
    from fsfer_bench.backbones import build_backbone

    method_cls = get_method(config.method)
    backbone = build_backbone(config.backbone, config.image_size, config.weights, config.weights_preset)
    return method_cls(backbone, method_options(config, method_cls), num_base_classes)


def sample_test_episodes(config: RunConfig, target: FaceDataset) -> dict[int, EpisodeSet]:
    """One episode set per shot, drawn with the episode seed (not the training seed), so that every
    training seed of a study faces the same test; drawn before training so impossible specs fail in
    seconds, and every spec checked (e.g. its size bound) before any is drawn."""
    specs = {
        shot: EpisodeSpec(config.way, shot, config.query, config.episodes, config.episode_seed, config.subject_disjoint)
        for shot in config.shots
    }
    return {shot: sample_episodes(target, spec, min_per_class=config.min_per_class) for shot, spec in specs.items()}


def train(
    config: RunConfig,
    pool: FaceDataset,
    device: torch.device,
    progress: Progress = no_progress,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> tuple[FewShotMethod, TrainingReport]:
    """Build and train the method; torch's global RNG is seeded and restored around it.

    Training (validation and model selection included) runs with the method's
    test-time options at their defaults; the requested values are set afterwards.
    So a model's weights never depend on them, which is what lets the training
    hash leave them out (`RunConfig.training_settings_hash`).
    """
    if config.train.regime != "full" and not config.weights:
        warnings.warn(
            f"train.regime={config.train.regime} without --weights keeps a randomly initialised backbone "
            "(features of a random network); give pretrained weights with --weights",
            FsferWarning,
            stacklevel=2,
        )
    method_cls = get_method(config.method)
    test_time = method_cls.test_time_options
    training = replace(config, options={k: v for k, v in config.options.items() if k not in test_time})
    with torch.random.fork_rng(devices=[]), reproducible_training(device):
        torch.manual_seed(config.seed)
        method = build_method(training, len(pool.classes)).to(device)
        report = fit(
            method, pool, config.train, seed=config.seed, device=device, progress=progress,
            checkpoint=checkpoint, resume=resume,
        )  # fmt: skip
    method.options = method_options(config, method_cls)
    return method, report


def method_variant(config: RunConfig) -> str:
    """The training settings and method options `config` sets away from the method's profile (and the
    defaults under it), as "train.steps=246, norm=l2" (settings, then options, each in key order); ""
    when the run is the profile as it stands. Tables name a run by its method and this."""
    method_cls = get_method(config.method)
    profile = method_cls.profiles.get(config.profile, {})
    train = {**dataclasses.asdict(TrainSettings()), **profile.get("train", {})}
    options = {**{f.name: f.default for f in dataclasses.fields(method_cls.Options)}, **profile.get("options", {})}
    changed = [f"train.{k}={v}" for k, v in sorted(dataclasses.asdict(config.train).items()) if train.get(k) != v]
    changed += [f"{k}={v}" for k, v in sorted(config.options.items()) if k in options and options[k] != v]
    return ", ".join(changed)


def training_hash(config: RunConfig, pool: FaceDataset) -> str:
    """Identity of a trained model: the settings that shape training, and what the training pool holds.

    The pool's content identity (`content_id`, the one the image cache and the episode
    sets use, here with the pixels that training reads) is in it, so a model trained
    before images were added, deleted or edited is not reused afterwards.
    """
    text = f"{config.training_settings_hash()}|{pool.content_id(pixels=True)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def trained_method(
    config: RunConfig, pool: FaceDataset, key: str, device: torch.device, progress: Progress,
    cache: ModelCache, reuse: bool, resume: bool,
) -> tuple[FewShotMethod, TrainingReport, bool]:  # fmt: skip
    """The trained method, and whether it was reused: from `cache` if `reuse` and it holds training `key`,
    else trained. Either way the model ends in `cache`: a trained model is never thrown away.

    A damaged cache entry is named in a warning and retrained; the new model replaces it.
    """
    if reuse:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            method = build_method(config, len(pool.classes)).to(device)
        found = cache.load(method, key)
        if not isinstance(found, CacheMiss):
            return method.eval(), found, True
        if found.damaged:
            warnings.warn(f"cached model unusable, retraining: {found.damaged}", FsferWarning, stacklevel=2)
    method, report = train(config, pool, device, progress, checkpoint=cache.checkpoint(key), resume=resume)
    cache.save(method, report, key)
    return method, report, False


def run(
    config: RunConfig,
    *,
    progress: Progress = no_progress,
    store: Store | None = None,
    reuse_training: bool = True,
    resume: bool = False,
) -> list[Record]:
    """Train once and evaluate each shot of `config`; returns the stored records.

    Every trained model is kept in the store's model cache (`<store>/models`), keyed by its
    `training_hash` (the training settings and the training pool's content). With
    `reuse_training` (the default) a model trained before with the same hash is loaded
    instead of trained again; without it (`--retrain`) the model is trained anew and
    replaces the cached one. Records say which happened (`training.reused`). With
    `resume`, a training killed midway continues from its last checkpoint.
    """
    store = store or Store(config.out)
    store.check_writable()
    environment()  # versions and commit as of now, before the long part
    device = resolve_device(config.device)
    pools = build_pools(config)
    episode_sets = sample_test_episodes(config, pools.target)
    cache = ModelCache(store.root / "models")
    key = training_hash(config, pools.train)
    method, report, reused = trained_method(config, pools.train, key, device, progress, cache, reuse_training, resume)
    run_id = uuid.uuid4().hex[:12]
    features = FeatureCache()
    records = []
    for shot, episodes in episode_sets.items():
        result = evaluate(
            method, pools.target, episodes, device=device, feature_cache=config.feature_cache, progress=progress,
            cache=features,
        )  # fmt: skip
        protocol = {
            "support_rule": episodes.support_rule,
            "same_database": pools.same_database,
            "train_duplicates_removed": pools.train_duplicates_removed,
            "train_near_duplicates_removed": pools.train_near_duplicates_removed,
            "transductive": method.is_transductive(),
        }
        record = Record.from_run(
            replace(config, shots=(shot,)), pools, episodes, result, report, run_id, device,
            key, reused, environment(), protocol=protocol, variant=method_variant(config),
        )  # fmt: skip
        store.write(record, episodes)
        records.append(record)
    return records
