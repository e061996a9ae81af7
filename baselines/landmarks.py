"""Landmark geometry (`landmarks`): a FER-specific, training-free baseline.

It classifies an expression from the shape of the face alone: the 68 facial
landmarks (iBUG scheme), normalised for position, scale and roll, compared to
each class's mean shape (nearest centroid). Set against the learned methods it
tells a reader how much a texture representation adds over facial geometry,
which is what FACS codes.

Normalisation: origin midway between the eye centres, the eye line turned
horizontal, lengths in inter-ocular distances (the convention of the aligner in
`fsfer_bench.data.faces`). Yaw and pitch are not undone; faces turned away from
the camera keep some pose in their shape.

Whitening (`whiten`, default "within") rescales the 136 coordinates by
statistics of the training sources, gathered in `after_training`: "within"
uses the covariance of shapes around their own class's mean (the variation that
is not expression: identity, pose, detection noise), which turns nearest
centroid into a linear discriminant; "total" the covariance of all shapes;
"none" keeps plain coordinates. Nothing else is trained (no training stages).

Inputs are landmarks, not pixels (`inputs = "landmarks"`): SynFACS provides
them; real datasets get them from `--face-align` (the `faces` extra), and
without it the run stops with an error that says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from baselines.budgets import LONG_IMAGE_SIZE
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import Batch, FeatureMethod, Stage, TrainSettings, class_means, register_method

WHITENING = ("none", "within", "total")
POINTS = 68
_RIGHT_EYE = slice(36, 42)  # iBUG-68: the subject's right eye, on the image's left
_LEFT_EYE = slice(42, 48)


@dataclass(frozen=True)
class Options:
    """`whiten`: none, within (class covariance) or total; `shrinkage`: ridge added to the covariance, as a
    fraction of its mean variance (the normalised shapes have 4 degenerate directions)."""

    whiten: str = "within"
    shrinkage: float = 0.1

    def __post_init__(self) -> None:
        if self.whiten not in WHITENING:
            raise ConfigError(f"option whiten must be one of {', '.join(WHITENING)}, got '{self.whiten}'")
        if self.shrinkage <= 0:
            raise ConfigError(f"option shrinkage must be positive, got {self.shrinkage}")


def normalise(points: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) pixel landmarks -> (B, 68, 2) with the eyes at (-d/2, 0), (d/2, 0) and d = 1."""
    right, left = points[:, _RIGHT_EYE].mean(1), points[:, _LEFT_EYE].mean(1)
    centre, axis = (right + left) / 2, left - right
    distance = axis.norm(dim=1, keepdim=True).clamp_min(1e-6)
    cos, sin = (axis / distance).unbind(1)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # maps the eye axis to +x
    return (points - centre[:, None]) @ rotation / distance[:, :, None]


def shape_vectors(points: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) pixel landmarks -> (B, 136) normalised shapes."""
    return normalise(points).flatten(1)


def whitened(points: torch.Tensor, mean: torch.Tensor, whitening: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) pixel landmarks -> (B, 136) normalised shapes, centred and whitened.

    An image whose face was not found (`--face-align` fallback: NaN landmarks) is put at
    the mean shape, the origin, instead of letting NaN poison its whole episode; the
    record counts such images (`face_align_fallbacks`)."""
    return torch.nan_to_num((shape_vectors(points) - mean) @ whitening, nan=0.0)


def fit_whitening(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], options: Options
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean shape, symmetric whitening matrix) from (landmarks, labels) batches of the training sources,
    per `options.whiten`/`shrinkage`; None when there is nothing to fit (whiten "none", or no data)."""
    if options.whiten == "none":
        return None
    shapes, labels = [], []
    for points, batch_labels in batches:
        found = torch.isfinite(points).flatten(1).all(1)  # images without a detected face carry NaN landmarks
        shapes.append(shape_vectors(points[found]).double())
        labels.append(batch_labels[found])
    x, y = (torch.cat(shapes), torch.cat(labels)) if shapes else (None, None)
    if x is None or len(x) < 2:
        return None
    mean = x.mean(0)
    centred = x - (class_means(x, y)[y] if options.whiten == "within" else mean)
    covariance = centred.T @ centred / max(1, len(x) - 1)
    ridge = options.shrinkage * covariance.diagonal().mean()
    covariance += ridge * torch.eye(len(mean), dtype=x.dtype, device=x.device)
    values, vectors = torch.linalg.eigh(covariance)
    return mean, vectors @ torch.diag(values.rsqrt()) @ vectors.T  # symmetric: keeps the axes


@register_method("landmarks")
class Landmarks(FeatureMethod):
    """Training-free: nearest centroid over normalised 68-point facial landmarks (needs landmarks)."""

    Options = Options
    training_loop = "none"
    inputs = "landmarks"
    # No training: the profiles only set what the data pipeline needs. The image size matters only in
    # that images are still decoded; landmarks are in their pixels and normalised away.
    profiles = {"quick": {"image_size": 64}, "paper": {"image_size": 64}, "long": {"image_size": LONG_IMAGE_SIZE}}

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        dim = 2 * POINTS
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("whitening", torch.eye(dim))

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        return []

    def after_training(self, base_batches: Callable[[], Iterable[Batch]]) -> None:
        whitening = fit_whitening(((b.images, b.labels) for b in base_batches()), self.options)
        if whitening is not None:
            self.mean.copy_(whitening[0])
            self.whitening.copy_(whitening[1])

    def embed(self, landmarks: torch.Tensor) -> torch.Tensor:
        return whitened(landmarks, self.mean, self.whitening)

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        return -torch.cdist(query_features, class_means(support_features, support_labels))
