"""Geometry plus appearance (`landmarks+features`): facial shape and learned texture, fused.

FER has long combined the two: the landmark geometry baseline alone (see
`baselines/landmarks.py`) is strong on posed compound expressions, learned
pixel features on in-the-wild texture. This method classifies by nearest
centroid on the concatenation of

- the whitened landmark shape of `baselines/landmarks.py` (same normalisation
  and whitening, fitted on the training sources in `after_training`), divided
  by sqrt(136) so that its within-class spread is about one unit, like
- the L2-normalised features of a backbone pretrained as a classifier over the
  base classes (SimpleShot's "L2" recipe, Wang et al. 2019; or any pretrained
  checkpoint given with `--weights`).

`geometry_weight` and `feature_weight` (default 1:1) scale each part's squared
distance: d^2 = w_g * d_geometry^2 + w_f * d_features^2, so a weight of 0 turns
a part off exactly. They are fixed options: tuning them on target episodes
would make the reported accuracy optimistic; choose them on the training
sources' validation episodes if at all.

Inputs are images and landmarks (`inputs = "images+landmarks"`): real datasets
need `--face-align`. Training batches are not augmented (a flip or shift of the
pixels would no longer match their landmarks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.landmarks import POINTS, fit_whitening, whitened
from baselines.landmarks import Options as GeometryOptions
from baselines.simpleshot import SimpleShot
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import Batch, FeatureMethod, Stage, StepData, TrainSettings, class_means, register_method
from fsfer_bench.tensors import ImagesAndLandmarks

GEOMETRY_DIM = 2 * POINTS


@dataclass(frozen=True)
class Options(GeometryOptions):
    """`geometry_weight`, `feature_weight`: each part's weight in the squared distance (>= 0, not both 0);
    `whiten`, `shrinkage`: the landmark whitening, as in the `landmarks` method."""

    geometry_weight: float = 1.0
    feature_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.geometry_weight, self.feature_weight) < 0 or self.geometry_weight + self.feature_weight == 0:
            raise ConfigError(
                f"options geometry_weight and feature_weight must be >= 0 and not both 0, got "
                f"{self.geometry_weight} and {self.feature_weight}"
            )


@register_method("landmarks+features")
class GeometryAppearance(FeatureMethod):
    """Nearest centroid on whitened landmark geometry + L2-normalised pretrained features (needs landmarks)."""

    Options = Options
    test_time_options = frozenset({"geometry_weight", "feature_weight"})
    training_loop = "batch"
    inputs = "images+landmarks"
    profiles = SimpleShot.profiles  # the same pretraining as SimpleShot's: the feature part is its L2 variant

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        self.classifier = nn.Linear(backbone.out_dim, max(1, num_base_classes))
        self.register_buffer("geometry_mean", torch.zeros(GEOMETRY_DIM))
        self.register_buffer("geometry_whitening", torch.eye(GEOMETRY_DIM))

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        return [Stage("pretrain", self.batch_loss, needs=("batch",))]

    def batch_loss(self, data: StepData) -> torch.Tensor:
        return F.cross_entropy(self.classifier(self.backbone(data.batch.images.images)), data.batch.labels)

    def after_training(self, base_batches: Callable[[], Iterable[Batch]]) -> None:
        whitening = fit_whitening(((b.images.landmarks, b.labels) for b in base_batches()), self.options)
        if whitening is not None:
            self.geometry_mean.copy_(whitening[0])
            self.geometry_whitening.copy_(whitening[1])

    def geometry(self, landmarks: torch.Tensor) -> torch.Tensor:
        """The geometry part: whitened shapes scaled to about unit within-class spread."""
        return whitened(landmarks, self.geometry_mean, self.geometry_whitening) / math.sqrt(GEOMETRY_DIM)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The appearance part: L2-normalised backbone features."""
        return F.normalize(self.backbone(images), dim=1)

    def embed(self, inputs: ImagesAndLandmarks) -> torch.Tensor:
        o = self.options
        return torch.cat(
            [math.sqrt(o.geometry_weight) * self.geometry(inputs.landmarks),
             math.sqrt(o.feature_weight) * self.features(inputs.images)], dim=1,
        )  # fmt: skip

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        return -torch.cdist(query_features, class_means(support_features, support_labels))

    def predict(
        self, support: ImagesAndLandmarks, support_labels: torch.Tensor, query: ImagesAndLandmarks
    ) -> torch.Tensor:
        features = self.embed(ImagesAndLandmarks.cat([support, query]))  # one pass, as FeatureMethod's
        return self.classify(features[: len(support)], support_labels, features[len(support) :])
