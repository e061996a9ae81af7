"""Feature extractors written against torch alone: Conv-4, ResNet-12, ResNet-18.

Every backbone maps (B, 3, H, W) to flat features (B, out_dim), so methods need
not know which one they run on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from fsfer_bench.errors import ConfigError, unknown_name


class Backbone(nn.Module):
    """A feature extractor with a known output width."""

    out_dim: int


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
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        needs_proj = stride != 1 or cin != cout
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if needs_proj
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet18(Backbone):
    """ResNet-18 (He et al. 2016), as EGS-Net uses at 224 px.

    At 224 px it has the ImageNet stem (7x7 stride 2, max-pool); below 128 px a
    3x3 stride-1 stem, so that small faces are not shrunk to nothing.
    """

    def __init__(self, image_size: int) -> None:
        super().__init__()
        if image_size >= 128:
            stem = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        else:
            stem = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1))
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1)


#: name -> (constructor, smallest image size it supports)
BACKBONES: dict[str, tuple[Callable[[int], Backbone], int]] = {
    "conv4": (Conv4, 16),
    "resnet12": (ResNet12, 16),
    "resnet18": (ResNet18, 32),
}


def build_backbone(name: str, image_size: int, weights: str | Path | None = None) -> Backbone:
    """The backbone `name` for square images of `image_size`, optionally with pretrained weights."""
    if name not in BACKBONES:
        raise unknown_name("backbone", name, list(BACKBONES))
    make, smallest = BACKBONES[name]
    if image_size < smallest:
        raise ConfigError(f"backbone {name} needs images of at least {smallest} px, got --image-size {image_size}")
    backbone = make(image_size)
    if weights is not None:
        load_weights(backbone, weights)
    return backbone


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a state_dict file (never a pickle of code: weights_only=True), listing any mismatch."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ConfigError(f"weights file {path} does not exist") from exc
    except Exception as exc:
        raise ConfigError(f"cannot read weights file {path} as a state_dict: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = [
            f"{label}: {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        ]
        raise ConfigError(f"weights file {path} does not match the backbone ({'; '.join(parts)})")
    module.load_state_dict(state)
