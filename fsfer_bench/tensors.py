"""From uint8 image arrays to normalised float tensors, and training-time augmentation.

One place decides how pixels become network input, so every method and every
path of the evaluator sees the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from fsfer_bench.errors import DataError

# Roughly centres and scales face crops; the exact values matter less than
# using the same ones everywhere.
MEAN = 0.5
STD = 0.25


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32, normalised."""
    batch = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return (batch.permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD


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


#: What a method can take as input: pixels, or the 68 facial landmarks of each image.
INPUT_KINDS = ("images", "landmarks")


def inputs(pool, indices: np.ndarray, kind: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """The method's input for pool images `indices`: image tensors, or landmarks (B, 68, 2) float32."""
    if kind == "images":
        return to_tensor(pool.images[indices], device)
    if kind == "landmarks":
        if pool.landmarks is None:
            raise DataError(
                f"{pool.name} has no facial landmarks; pass --face-align to detect them "
                "(needs `pip install fsfer-bench[faces]`)"
            )
        return torch.from_numpy(np.ascontiguousarray(pool.landmarks[indices], dtype=np.float32)).to(device)
    raise ValueError(f"unknown input kind {kind!r}; expected one of {INPUT_KINDS}")
