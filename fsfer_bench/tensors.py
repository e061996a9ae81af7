"""From uint8 image arrays to normalised float tensors, and training-time augmentation.

One place decides how pixels become network input, so every method and every
path of the evaluator (and of training) sees the same numbers: `inputs`.

The normalisation belongs to the weights a backbone starts from: pretrained
checkpoints expect the statistics they were trained with (ImageNet's mean and
std for torchvision, timm and the MS-Celeb-1M face models), training from
scratch uses the harness's own. Grey faces arrive as three equal channels (the
adapters repeat them), as those checkpoints expect RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fsfer_bench.errors import DataError


@dataclass(frozen=True)
class Normalisation:
    """Per-channel (R, G, B) mean and std of pixels scaled to 0..1."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_IMAGENET = Normalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
#: Weights preset -> input normalisation. "none" (from scratch) roughly centres and scales face
#: crops: the exact values matter less than using the same ones everywhere. MS-Celeb-1M ResNets
#: (Self-Cure Network and its successors) were trained with ImageNet's statistics.
PRESETS = {"none": Normalisation((0.5,) * 3, (0.25,) * 3), "imagenet": _IMAGENET, "msceleb": _IMAGENET}
SCRATCH = PRESETS["none"]


def to_tensor(
    images: np.ndarray, device: torch.device | str = "cpu", normalisation: Normalisation = SCRATCH
) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32, normalised per channel."""
    batch = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    mean = torch.tensor(normalisation.mean, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(normalisation.std, device=batch.device).view(1, 3, 1, 1)
    return (batch.permute(0, 3, 1, 2).float() / 255.0 - mean) / std


def augment(batch: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random shift by up to `pad` pixels, per image.

    Faces are close to mirror-symmetric and crops are never perfectly centred,
    so both are label-preserving for expressions.
    """
    b, _, h, w = batch.shape
    flip = torch.rand(b, generator=generator) < 0.5
    batch = torch.where(flip.view(b, 1, 1, 1).to(batch.device), batch.flip(3), batch)
    padded = torch.nn.functional.pad(batch, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])


@dataclass(frozen=True)
class ImagesAndLandmarks:
    """The input of methods that use both pixels and facial geometry (`inputs = "images+landmarks"`).

    Behaves like a batch tensor where the harness needs it to: `len`, `.to`,
    indexing, and `cat` for a method's `predict`.
    """

    images: torch.Tensor  # (B, 3, H, W), normalised
    landmarks: torch.Tensor  # (B, 68, 2) float32, pixel coordinates

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: slice | torch.Tensor) -> ImagesAndLandmarks:
        return ImagesAndLandmarks(self.images[index], self.landmarks[index])

    def to(self, device: torch.device | str) -> ImagesAndLandmarks:
        return ImagesAndLandmarks(self.images.to(device), self.landmarks.to(device))

    @staticmethod
    def cat(parts: list[ImagesAndLandmarks]) -> ImagesAndLandmarks:
        return ImagesAndLandmarks(torch.cat([p.images for p in parts]), torch.cat([p.landmarks for p in parts]))


#: What a method can take as input: pixels, the 68 facial landmarks of each image, or both.
INPUT_KINDS = ("images", "landmarks", "images+landmarks")
Inputs = torch.Tensor | ImagesAndLandmarks


def inputs(
    pool, indices: np.ndarray, kind: str, device: torch.device | str = "cpu", normalisation: Normalisation = SCRATCH
) -> Inputs:
    """The method's input for pool images `indices`: image tensors normalised by `normalisation` (the
    backbone's: see `input_normalisation`), landmarks (B, 68, 2) float32, or both."""
    if kind == "images":
        return to_tensor(pool.images[indices], device, normalisation)
    if kind == "landmarks":
        return _landmarks(pool, indices, device)
    if kind == "images+landmarks":
        return ImagesAndLandmarks(
            to_tensor(pool.images[indices], device, normalisation), _landmarks(pool, indices, device)
        )
    raise ValueError(f"unknown input kind {kind!r}; expected one of {INPUT_KINDS}")


def input_normalisation(method: torch.nn.Module) -> Normalisation:
    """The normalisation of `method`'s backbone, which its weights decide (`Backbone.normalisation`)."""
    return getattr(getattr(method, "backbone", None), "normalisation", SCRATCH)


def method_inputs(method: torch.nn.Module, pool, indices: np.ndarray, device: torch.device | str = "cpu") -> Inputs:
    """`inputs` of the kind `method` takes, normalised as its backbone expects."""
    return inputs(pool, indices, method.inputs, device, input_normalisation(method))


def _landmarks(pool, indices: np.ndarray, device: torch.device | str) -> torch.Tensor:
    if pool.landmarks is None:
        raise DataError(
            f"{pool.name} has no facial landmarks; pass --face-align to detect them "
            "(needs `pip install fsfer-bench[faces]`)"
        )
    return torch.from_numpy(np.ascontiguousarray(pool.landmarks[indices], dtype=np.float32)).to(device)
