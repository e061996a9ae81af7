"""Export a trained backbone, so that another method can start from it (`--weights`).

A trained model lives in a store's model cache (`<store>/models/<training hash>.pt`, see
`model_cache`), as the whole method's state dict. `export_backbone` takes the backbone's part
of it, with the `backbone.` prefix removed: for the ResNets that is torchvision's layout, for
Conv-4 the harness's own; either way `build_backbone(..., weights=file)` reads it as it is. It is
written with `torch.save` of tensors only (so `torch.load(weights_only=True)` reads it), and a
JSON sidecar beside it (`backbone.pt` -> `backbone.json`) says what the weights need: the
backbone, the image size and the input normalisation preset, and where they came from:

    fsfer-bench run --method baseline++ ... --weights backbone.pt --weights-preset none --image-size 48

The model is found either by its training hash (`--model HASH`, or the cache file's path),
its settings then read from a record in the same store that names that hash, or from the
settings of the run that trained it (the `run` command's flags), which give the hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fsfer_bench.backbones import MAX_WEIGHTS_BYTES, build_backbone
from fsfer_bench.config import RunConfig
from fsfer_bench.errors import ConfigError, StoreError
from fsfer_bench.files import load_torch, probe_writable, read_bounded, write_json_atomic, write_torch_atomic
from fsfer_bench.registry import get_method
from fsfer_bench.results import iter_records

EXPORT_FORMAT = 1
PREFIX = "backbone."


@dataclass(frozen=True)
class TrainedModel:
    """A model in a store's cache, with what is needed to read its backbone."""

    method: str
    backbone: str
    image_size: int
    preset: str
    training_hash: str
    weights: Path


@dataclass(frozen=True)
class ExportReport:
    """What was written: the weights file, its sidecar, and the model they came from."""

    weights: Path
    sidecar: Path
    model: TrainedModel
    tensors: int

    def usage(self) -> str:
        """The flags that load the export into another method."""
        m = self.model
        return (
            f"--backbone {m.backbone} --image-size {m.image_size} --weights {self.weights} --weights-preset {m.preset}"
        )


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def model_by_hash(store: str | Path, model: str) -> TrainedModel:
    """The cached model `model` (a training hash, or the path of its `.pt` in a store's `models/` folder),
    described by a record of `store` that names its training hash."""
    path = Path(model)
    if path.suffix == ".pt":
        store, key = path.parent.parent, path.stem
    else:
        key = model
    weights = Path(store) / "models" / f"{key}.pt"
    if not weights.is_file():
        raise StoreError(f"no trained model {key} in {Path(store) / 'models'}; give a training hash from a record "
                         "of that store (its training_hash field), or the run's own flags")  # fmt: skip
    for _, record in iter_records(store):
        if record.training_hash == key:
            return _from_settings(record.method, record.config, key, weights)
    raise StoreError(f"model {key} in {Path(store) / 'models'} is named by no record of {store}, so its backbone, "
                     "image size and preset are unknown; export it by the run's own flags")  # fmt: skip


def model_of_run(config: RunConfig, store: str | Path) -> TrainedModel:
    """The cached model that `config`'s training made, found by its training hash (the training pool is loaded
    to compute it)."""
    from fsfer_bench.experiment import build_pools, training_hash

    _check_has_backbone(config.method)
    key = training_hash(config, build_pools(config).train)
    weights = Path(store) / "models" / f"{key}.pt"
    if not weights.is_file():
        raise StoreError(f"no trained model for these settings in {Path(store) / 'models'} (training hash {key})"
                         f"{_other_sizes(config, store)}; train it first with `fsfer-bench run` and the same flags, "
                         f"--out {store}")  # fmt: skip
    return _from_settings(config.method, asdict(config), key, weights)


def _other_sizes(config: RunConfig, store: str | Path) -> str:
    """A hint naming the models of the same method that the store holds at other image sizes."""
    if not (Path(store) / "models").is_dir():
        return ""
    found = {(r.config.get("image_size"), r.training_hash) for _, r in iter_records(store)
             if r.method == config.method and r.config.get("image_size") != config.image_size
             and (Path(store) / "models" / f"{r.training_hash}.pt").is_file()}  # fmt: skip
    if not found:
        return ""
    models = ", ".join(f"{size} px (--model {key})" for size, key in sorted(found, key=str))
    return f"; {config.method} was trained at another image size than --image-size {config.image_size}: {models}"


def _from_settings(method: str, settings: dict, key: str, weights: Path) -> TrainedModel:
    return TrainedModel(method, settings["backbone"], int(settings["image_size"]),
                        settings.get("weights_preset") or "none", key, weights)  # fmt: skip


def _check_has_backbone(method: str) -> None:
    cls = get_method(method)
    if cls.training_loop == "none" or "images" not in cls.inputs:
        what = "trains no weights" if cls.training_loop == "none" else f"reads {cls.inputs}, not images"
        raise ConfigError(f"method {method} has no trained backbone to export (it {what}); export a method that "
                          "trains one, e.g. baseline++ or protonet")  # fmt: skip


def check_writable(out: str | Path) -> None:
    """Fail before any work if the weights or their sidecar could not be written to `out`'s folder."""
    out = Path(out)
    if sidecar_path(out) == out:
        raise ConfigError(f"--out {out}: the sidecar {out} would overwrite the weights; name the file e.g. backbone.pt")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name, e.g. {out / 'backbone.pt'}")
    try:
        probe_writable(out.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {out} ({exc.strerror or exc}); choose a writable path with --out") from exc


def backbone_state(model: TrainedModel) -> dict[str, torch.Tensor]:
    """The backbone's tensors of the cached model, checked by loading them into a fresh backbone."""
    try:
        state = load_torch(model.weights)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file; each means "unusable"
        raise StoreError(f"cannot read trained model {model.weights} ({type(exc).__name__}); retrain it") from exc
    backbone = {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}
    fresh = build_backbone(model.backbone, model.image_size).state_dict()
    missing = sorted(set(fresh) - set(backbone))
    if any(k.endswith(("running_mean", "running_var")) for k in missing):
        raise ConfigError(
            f"{model.method} model {model.training_hash} kept no BatchNorm running statistics (it normalises by "
            "each batch's, e.g. MAML's bn=batch), so its backbone cannot serve another method; export a model "
            "trained with running statistics (MAML: option.bn=running)"
        )
    if missing or set(backbone) - set(fresh):
        raise StoreError(f"trained model {model.weights} does not hold a {model.backbone} backbone "
                         f"({len(missing)} tensors missing); retrain it")  # fmt: skip
    return backbone


def export_backbone(model: TrainedModel, out: str | Path, image_size: int | None = None) -> ExportReport:
    """Write `model`'s backbone to `out` (tensors only) and its sidecar beside it.

    `image_size`, when given, is the size the caller means to use the weights at; a model trained at
    another size is refused (a Conv-4's weights load at any size, but its features do not transfer).
    """
    _check_has_backbone(model.method)
    if image_size is not None and image_size != model.image_size:
        raise ConfigError(f"model {model.training_hash} ({model.method}) was trained at {model.image_size} px, not "
                          f"--image-size {image_size}; export and use it at {model.image_size} px")  # fmt: skip
    check_writable(out)
    state = backbone_state(model)
    weights = write_torch_atomic(out, state)
    sidecar = write_json_atomic(sidecar_path(out), {
        "format": EXPORT_FORMAT,
        "backbone": model.backbone,
        "image_size": model.image_size,
        "weights_preset": model.preset,
        "method": model.method,
        "training_hash": model.training_hash,
        "sha256": hashlib.sha256(read_bounded(weights, MAX_WEIGHTS_BYTES)).hexdigest(),
        "tensors": len(state),
    })  # fmt: skip
    return ExportReport(Path(weights), sidecar, model, len(state))
