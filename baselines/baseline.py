"""Baseline and Baseline++ (Chen, Liu, Kira, Wang & Huang, "A Closer Look at Few-shot Classification", ICLR 2019).

Train the backbone with an ordinary classifier over all base classes, in
batches; at test time drop that classifier and fine-tune a new one on each
episode's support features, the backbone frozen. Baseline's classifiers are
linear. Baseline++'s are cosine: a scaled cosine similarity to one weight
vector per class, which in the paper reduced intra-class variation and made the
simple baseline competitive with meta-learning.

The new classifier depends only on features, so both are `FeatureMethod`s and
the evaluator embeds each test image once. Departures from the paper, for
determinism: the fine-tuning is 100 full-batch SGD steps (the paper: 100 passes
over the support set in shuffled mini-batches of 4, from a random
initialisation; same optimiser, learning rate 0.01, momentum 0.9, weight decay
0.001), the linear classifier starts at zero and the cosine one at the support
class means (weight imprinting, Qi et al. 2018), so an episode's answer depends
on its features alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.budgets import LONG_BATCH
from fsfer_bench.errors import ConfigError
from fsfer_bench.finetune import fit_head
from fsfer_bench.methods import FeatureMethod, Stage, StepData, TrainSettings, class_means, register_method


@dataclass(frozen=True)
class Options:
    """`finetune_*`: the per-episode classifier; `scale`: the cosine classifier's temperature (Baseline++ only)."""

    finetune_steps: int = 100
    finetune_lr: float = 0.01
    scale: float = 10.0

    def __post_init__(self) -> None:
        if self.finetune_steps < 1:
            raise ConfigError(f"option finetune_steps must be at least 1, got {self.finetune_steps}")
        if self.finetune_lr <= 0 or self.scale <= 0:
            raise ConfigError(f"options finetune_lr and scale must be positive, got {self.finetune_lr}, {self.scale}")


class CosineClassifier(nn.Module):
    """Logits = scale * cos(feature, w_c): Baseline++'s classifier."""

    def __init__(self, weight: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T


# CPU: Conv-4 at 64 px, 120 batches of 64: 103 s (Baseline) and 125 s (Baseline++) of one core in the
# reference run (results/reference/, SynFACS_C 5-shot: 70.07% and 61.48%).
_QUICK = {"backbone": "conv4", "image_size": 64,
          "train": {"steps": 120, "batch_size": 64, "lr": 1e-3, "val_every": 60, "val_episodes": 50}}  # fmt: skip
# Chen et al.: Adam 1e-3, batches of 16, augmentation, Conv-4 at 84 px; their 400 epochs of
# mini-ImageNet are ~960k steps, so the step count here is a GPU budget to adjust to the training pool.
_PAPER = {"backbone": "conv4", "image_size": 84,
          "train": {"steps": 60000, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.0, "val_every": 2000,
                    "val_episodes": 600}}  # fmt: skip


class _FineTuned(FeatureMethod):
    """Batch pretraining on the base classes, then a new classifier fine-tuned per episode."""

    Options = Options
    test_time_options = frozenset({"finetune_steps", "finetune_lr"})
    training_loop = "batch"

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        self.classifier = self.new_head(torch.zeros(max(1, num_base_classes), backbone.out_dim))

    def new_head(self, weight: torch.Tensor) -> nn.Module:
        raise NotImplementedError

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        return [Stage("pretrain", self.batch_loss, needs=("batch",))]

    def batch_loss(self, data: StepData) -> torch.Tensor:
        return F.cross_entropy(self.classifier(self.embed(data.batch.images)), data.batch.labels)

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        head = self.new_head(self.initial_weight(support_features, support_labels)).to(support_features.device)
        fit_head(head, support_features, support_labels, steps=self.options.finetune_steps,
                 lr=self.options.finetune_lr)  # fmt: skip
        return head(query_features)

    def initial_weight(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@register_method("baseline")
class Baseline(_FineTuned):
    """Batch pretraining; a linear classifier fine-tuned on each episode's support features."""

    profiles = {"quick": _QUICK, "paper": _PAPER, "long": LONG_BATCH}

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        nn.init.normal_(self.classifier.weight, std=0.01)  # the base classifier trains from a random start

    def new_head(self, weight: torch.Tensor) -> nn.Module:
        head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.zero_()
        return head

    def initial_weight(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.zeros(int(labels.max()) + 1, features.shape[1], device=features.device)


@register_method("baseline++")
class BaselinePlusPlus(_FineTuned):
    """Batch pretraining with a cosine classifier; a cosine classifier fine-tuned on each episode's support."""

    profiles = {
        "quick": _QUICK,
        "paper": {**_PAPER, "options": {"scale": 2.0}},
        "long": LONG_BATCH,
    }  # paper: Chen et al.'s
    # scale of 2 below 200 classes

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        nn.init.normal_(self.classifier.weight, std=0.01)

    def new_head(self, weight: torch.Tensor) -> nn.Module:
        return CosineClassifier(weight, self.options.scale)

    def initial_weight(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return class_means(features, labels)
