"""Feature extractors written against torch alone: Conv-4, ResNet-12, ResNet-18, ResNet-50.

Every backbone maps (B, 3, H, W) to flat features (B, out_dim), so methods need
not know which one they run on.

The ResNets use torchvision's module names and, at 128 px and above, its exact
architecture (7x7 stride-2 stem, 3x3 stride-2 max-pool, stride on the first 3x3
conv of a stage, BatchNorm eps 1e-5), so the checkpoints researchers start from
load as they are: torchvision's and timm's ImageNet weights, and the MS-Celeb-1M
ResNet-18 of the FER literature (Self-Cure Network, CDNet), all in that layout.
The classifier (`fc`) is not part of a backbone: it is dropped on load and
reported (`load_weights`, `Backbone.weights_report`).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fsfer_bench.errors import ConfigError, FsferWarning, unknown_name
from fsfer_bench.files import DamagedFileError, load_torch, read_bounded
from fsfer_bench.tensors import PRESETS, Normalisation


class Backbone(nn.Module):
    """A feature extractor with a known output width.

    `normalisation` is how its input pixels are scaled (it belongs to the weights:
    set by `build_backbone` from the weights preset); `weights_report` says what
    a pretrained weights file gave it, None when it starts from scratch.
    """

    out_dim: int
    normalisation: Normalisation = PRESETS["none"]
    weights_report: dict[str, Any] | None = None


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
    )


class Conv4(Backbone):
    """Four conv-BN-ReLU-pool blocks of 64 filters (Vinyals et al. 2016; Snell et al. 2017).

    Features are the flattened last map, as in the original ProtoNet: 1,024-d at
    64 px, 1,600-d at 84 px.
    """

    def __init__(self, image_size: int, width: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[_conv_block(3 if i == 0 else width, width) for i in range(4)])
        side = image_size
        for _ in range(4):
            side //= 2
        self.out_dim = width * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1)


class _ResBlock12(nn.Module):
    """ResNet-12 block: three 3x3 convs with a 1x1 shortcut, then 2x2 max-pool."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.out = nn.Sequential(nn.LeakyReLU(0.1), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


class ResNet12(Backbone):
    """ResNet-12 of the few-shot literature (Oreshkin et al. 2018; Lee et al. 2019), global-average pooled."""

    def __init__(self, image_size: int, widths: tuple[int, ...] = (64, 160, 320, 640)) -> None:
        super().__init__()
        chans = (3, *widths)
        self.layers = nn.Sequential(*[_ResBlock12(chans[i], chans[i + 1]) for i in range(len(widths))])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(x)).flatten(1)


class _BasicBlock(nn.Module):
    """torchvision's BasicBlock (two 3x3 convs), with its attribute names so its checkpoints load."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class _Bottleneck(nn.Module):
    """torchvision's Bottleneck (1x1, 3x3, 1x1; stride on the 3x3: "ResNet v1.5"), with its attribute names."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _downsample(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    """The 1x1 projection shortcut where the shape changes (`downsample.0`/`.1` in torchvision's names)."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


#: Image size from which a ResNet has the ImageNet stem (and so takes ImageNet checkpoints' conv1).
IMAGENET_STEM_FROM = 128


class _ResNet(Backbone):
    """A ResNet in torchvision's layout, global-average pooled, without the classifier.

    At 128 px and above it has the ImageNet stem (7x7 stride 2, max-pool); below,
    a 3x3 stride-1 stem without max-pool, so that small faces are not shrunk to
    nothing (pretrained `conv1` weights, 7x7, do not fit that stem).
    """

    def __init__(self, image_size: int, block: type[_BasicBlock | _Bottleneck], depths: tuple[int, ...]) -> None:
        super().__init__()
        if image_size >= IMAGENET_STEM_FROM:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        cin = 64
        for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths)):
            stride = 1 if i == 0 else 2
            blocks = [block(cin if j == 0 else width * block.expansion, width, stride if j == 0 else 1)
                      for j in range(depth)]  # fmt: skip
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = width * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    @property
    def layers(self) -> nn.Sequential:
        """The stem and the four stages in order, for code that cuts the network between blocks (EGS-Net's
        private block), as it cuts Conv-4 and ResNet-12. A view, built on each call: the modules stay
        registered under torchvision's names, so checkpoints keep their layout."""
        stem = nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool)
        return nn.Sequential(stem, self.layer1, self.layer2, self.layer3, self.layer4)

    @property
    def pool(self) -> nn.Module:
        """What follows `layers` before flattening, under the name the other backbones use."""
        return self.avgpool


class ResNet18(_ResNet):
    """ResNet-18 (He et al. 2016), as EGS-Net uses at 224 px; 512-d features."""

    def __init__(self, image_size: int) -> None:
        super().__init__(image_size, _BasicBlock, (2, 2, 2, 2))


class ResNet50(_ResNet):
    """ResNet-50 (He et al. 2016) in torchvision's v1.5 form; 2,048-d features."""

    def __init__(self, image_size: int) -> None:
        super().__init__(image_size, _Bottleneck, (3, 4, 6, 3))


#: name -> (constructor, smallest image size it supports)
BACKBONES: dict[str, tuple[Callable[[int], Backbone], int]] = {
    "conv4": (Conv4, 16),
    "resnet12": (ResNet12, 16),
    "resnet18": (ResNet18, 32),
    "resnet50": (ResNet50, 32),
}

#: How the weights' source normalised its inputs: ImageNet statistics for torchvision, timm and the
#: MS-Celeb-1M checkpoints of the FER literature (trained with ImageNet's mean/std); "none" for
#: training from scratch, the harness's own (mean 0.5, std 0.25).
WEIGHTS_PRESETS = tuple(PRESETS)


def check_weights_settings(weights: str | Path | None, preset: str | None) -> str:
    """The effective preset for `weights`, or a ConfigError naming what is expected.

    Without weights the preset is "none" unless given; with weights it must be
    given, since the same file format holds weights trained under either
    normalisation and a wrong guess silently degrades every feature.
    """
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown weights preset '{preset}' (valid: {', '.join(WEIGHTS_PRESETS)})")
    if preset is None and weights is not None:
        raise ConfigError(
            f"--weights {weights} needs --weights-preset: imagenet (torchvision or timm ImageNet weights), "
            "msceleb (MS-Celeb-1M face weights) or none (weights trained with this harness's normalisation)"
        )
    return preset or "none"


def build_backbone(
    name: str, image_size: int, weights: str | Path | None = None, preset: str | None = None
) -> Backbone:
    """The backbone `name` for square images of `image_size`, optionally with pretrained weights.

    `preset` names the input normalisation the weights were trained with (see `WEIGHTS_PRESETS`).
    """
    if name not in BACKBONES:
        raise unknown_name("backbone", name, list(BACKBONES))
    make, smallest = BACKBONES[name]
    if image_size < smallest:
        raise ConfigError(f"backbone {name} needs images of at least {smallest} px, got --image-size {image_size}")
    preset = check_weights_settings(weights, preset)
    backbone = make(image_size)
    backbone.normalisation = PRESETS[preset]
    if weights is not None:
        backbone.weights_report = {**load_weights(backbone, weights), "preset": preset}
    return backbone


#: Where checkpoints wrap their state dict, and the prefix DataParallel adds to every key.
WRAPPERS = ("state_dict", "model")
PREFIX = "module."
#: Classifier keys: a backbone has no classifier, so these are dropped (and reported), whatever their size.
CLASSIFIER = "fc."


def load_weights(module: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file into `module` and return what happened, for the record.

    Accepts a bare state dict or one under `state_dict`/`model`, keys with or
    without DataParallel's `module.` prefix; drops a classifier (`fc.*`) the
    module lacks. Read with weights_only=True: a file holding code is refused.
    Returns {"file", "sha256", "wrapper", "prefix_stripped", "loaded", "dropped"}
    (`dropped`: key -> shape); a ConfigError names any other mismatch.
    """
    path = Path(path)
    state, wrapper = _unwrap(_read_checkpoint(path), path)
    prefix = PREFIX if state and all(k.startswith(PREFIX) for k in state) else None
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items()}
    own = module.state_dict()
    dropped = {k: list(v.shape) for k, v in state.items() if k.startswith(CLASSIFIER) and k not in own}
    state = {k: v for k, v in state.items() if k not in dropped}
    _check_match(own, state, path, type(module).__name__)
    module.load_state_dict(state)
    if dropped:
        warnings.warn(f"weights file {path}: dropped the classifier ({_shapes(dropped)})", FsferWarning, stacklevel=2)
    return {
        "file": str(path),
        "sha256": hashlib.sha256(read_bounded(path, MAX_WEIGHTS_BYTES)).hexdigest(),
        "wrapper": wrapper,
        "prefix_stripped": prefix,
        "loaded": len(state),
        "dropped": dropped,
    }


#: Larger than any backbone's weights file (ResNet-18: 45 MB), small enough to read into memory.
MAX_WEIGHTS_BYTES = 2 * 2**30


def _read_checkpoint(path: Path) -> object:
    """torch.load with weights_only=True, every failure as one line (torch's own refusal is seven)."""
    try:
        return load_torch(path, MAX_WEIGHTS_BYTES)
    except FileNotFoundError as exc:
        raise ConfigError(f"weights file {path} does not exist") from exc
    except DamagedFileError as exc:
        raise ConfigError(f"weights file {path} cannot be used: {exc.reason}; give the checkpoint file") from exc
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found is None:  # not a pickle of objects at all: a damaged or foreign file
            raise ConfigError(f"cannot read weights file {path}: not a file torch.save wrote") from exc
        raise ConfigError(
            f"weights file {path} holds Python objects ({found.group(1)}), not only tensors; refused, as loading it "
            "could run code: give a plain state dict (torch.save(model.state_dict(), file))"
        ) from exc
    except Exception as exc:  # torch raises many types for a file it did not write
        raise ConfigError(
            f"cannot read weights file {path}: not a file torch.save wrote ({type(exc).__name__}: {exc})"
        ) from exc


def _unwrap(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """The state dict in a checkpoint, and the key it was found under (None when bare)."""
    wrapper = None
    if isinstance(obj, dict):
        wrapper = next((w for w in WRAPPERS if isinstance(obj.get(w), dict)), None)
        if wrapper is not None:
            obj = obj[wrapper]
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ConfigError(
            f"weights file {path} holds {_describe(obj)}, not a state dict: expected a dict of parameter name -> "
            f"tensor, bare or under {' or '.join(repr(w) for w in WRAPPERS)}"
        )
    return obj, wrapper


def _describe(obj: object) -> str:
    if isinstance(obj, dict):
        if not obj:
            return "an empty dict"
        keys = ", ".join(repr(k) for k in list(obj)[:4])
        return f"a dict with keys {keys}{' ...' if len(obj) > 4 else ''} whose values are not all tensors"
    return f"a {type(obj).__name__}"


def _check_match(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """A ConfigError with counts and examples of missing, unexpected and misshapen keys, if any."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = {k: (list(state[k].shape), list(own[k].shape)) for k in sorted(set(own) & set(state))
             if own[k].shape != state[k].shape}  # fmt: skip
    if not (missing or unexpected or wrong):
        return
    parts = [f"{len(keys)} {label}: {_examples(keys)}" for label, keys in
             (("missing", missing), ("unexpected", unexpected)) if keys]  # fmt: skip
    if wrong:
        shapes = ", ".join(f"{k} {s} in the file, {o} here" for k, (s, o) in list(wrong.items())[:3])
        parts.append(f"{len(wrong)} of another shape: {shapes}{' ...' if len(wrong) > 3 else ''}")
    hint = ""
    if "conv1.weight" in wrong and list(own["conv1.weight"].shape[2:]) == [3, 3]:
        hint = f"; ImageNet-layout checkpoints need the 7x7 stem of --image-size {IMAGENET_STEM_FROM} or more"
    raise ConfigError(f"weights file {path} does not match the {name} backbone ({'; '.join(parts)}){hint}")


def _examples(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (" ..." if len(keys) > n else "")


def _shapes(shapes: dict[str, list[int]]) -> str:
    return ", ".join(f"{k} {'x'.join(map(str, s))}" for k, s in shapes.items())
