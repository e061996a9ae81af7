"""SimpleShot (Wang, Chao, Weinberger & van der Maaten, arXiv 1911.04623, 2019).

Pretrain the backbone as an ordinary classifier over the base classes, then
classify each query by its nearest support-class centroid in Euclidean
distance, after one of three feature transforms: none, L2 normalisation, or
CL2N (subtract the mean base-class feature, then L2-normalise). The paper found
CL2N, a transform with no trained parameters, to close most of the gap to
meta-learning; it is cheap, and strong under domain shift.

The base-class mean comes from the `after_training` hook, over the training
pool without augmentation, and is kept in a buffer so checkpoints and saved
weights carry it. Validation during training runs before that hook, so CL2N is
validated as L2 (the mean is still zero then).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.budgets import LONG_BATCH
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import Batch, FeatureMethod, Stage, StepData, TrainSettings, class_means, register_method

NORMS = ("none", "l2", "cl2n")


@dataclass(frozen=True)
class Options:
    """`norm`: the feature transform before nearest centroid, one of none, l2, cl2n."""

    norm: str = "cl2n"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"option norm must be one of {', '.join(NORMS)}, got '{self.norm}'")


@register_method("simpleshot")
class SimpleShot(FeatureMethod):
    """Batch pretraining; nearest centroid on none / L2 / CL2N-normalised features."""

    Options = Options
    test_time_options = frozenset({"norm"})
    training_loop = "batch"
    profiles = {
        # CPU: Conv-4 at 64 px, 120 batches of 64: 113 s of one core in the reference run (results/reference/,
        # SynFACS_C 5-shot: 58.85%).
        "quick": {"backbone": "conv4", "image_size": 64,
                  "train": {"steps": 120, "batch_size": 64, "lr": 1e-3, "val_every": 60, "val_episodes": 50}},
        # Wang et al. (Conv-4 on mini-ImageNet): SGD at 0.1 with momentum 0.9 and weight decay 1e-4, 90 epochs of
        # batch 256, the rate divided by 10 at epochs 45 and 66. Here: their optimiser and batch size, a comparable
        # number of images seen, and one step decay at half-way (a fixed step size cannot place the second at 73%).
        "paper": {"backbone": "conv4", "image_size": 84,
                  "train": {"steps": 15000, "batch_size": 256, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                            "weight_decay": 1e-4, "schedule": "step", "step_size": 7500, "gamma": 0.1,
                            "val_every": 1000, "val_episodes": 600}},
        # CPU budget that learns on real faces (issue 18), as baseline's: Conv-4 at 48 px, 2,000 batches of 64,
        # about 12 min of a quiet 2-core CPU. Per step 0.27-0.44 s of one core (1 thread, busy machine; the
        # same work as baseline's 0.28 s, so the spread is the machine's noise).
        "long": LONG_BATCH,
    }  # fmt: skip

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        self.classifier = nn.Linear(backbone.out_dim, max(1, num_base_classes))
        self.register_buffer("base_mean", torch.zeros(backbone.out_dim))

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        return [Stage("pretrain", self.batch_loss, needs=("batch",))]

    def batch_loss(self, data: StepData) -> torch.Tensor:
        return F.cross_entropy(self.classifier(self.backbone(data.batch.images)), data.batch.labels)

    def after_training(self, base_batches: Callable[[], Iterable[Batch]]) -> None:
        total, count = torch.zeros_like(self.base_mean), 0
        for batch in base_batches():
            total += self.backbone(batch.images).sum(0)
            count += len(batch.images)
        if count:
            self.base_mean.copy_(total / count)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(images)
        if self.options.norm == "cl2n":
            features = features - self.base_mean
        return F.normalize(features, dim=1) if self.options.norm in ("l2", "cl2n") else features

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        return -torch.cdist(query_features, class_means(support_features, support_labels))
