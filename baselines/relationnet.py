"""Relation Networks (Sung, Yang, Zhang, Xiang, Torr & Hospedales, CVPR 2018).

Instead of a fixed distance, a small network learns to compare: it takes a
query's features next to a class's features and outputs a relation score in
[0, 1], trained by mean squared error against 1 for the true class and 0 for
the others (the paper treats it as regression).

On Conv-4 the relation module is the paper's: two conv-BN-ReLU-pool blocks of
64 filters over the concatenated feature maps, then FC-8 and FC-1 with a
sigmoid. Other backbones return pooled vectors, so there it is FC-8 and FC-1
over the concatenated vectors (`relation = "auto"` picks; "conv" or "mlp" force).

Departures from the paper:
- our Conv-4 pools after all four blocks (the paper's drops the last two pools,
  19x19 maps at 84 px), so the maps are smaller: 4x4 at 64 px, 2x2 at 32 px,
  where the relation module's second block does not pool;
- a class's features are the mean of its support features, not their sum: the
  harness trains once and tests several shots, and a sum would change the
  relation module's input scale with the shot;
- the last layer's bias starts the scores at 0.2, not 0.5 (see `_score`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.budgets import LONG_EPISODIC
from fsfer_bench.backbones import Conv4
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import Episode, FeatureMethod, class_means, register_method

RELATIONS = ("auto", "conv", "mlp")
LOSSES = ("mse", "ce")


@dataclass(frozen=True)
class Options:
    """`relation`: the relation module, auto (conv on Conv-4, else mlp), conv or mlp; `hidden`: its FC width;
    `loss`: mse (the paper's: squared error of the sigmoid scores against one-hot) or ce (cross-entropy over the
    relation logits of an episode's classes)."""

    relation: str = "auto"
    hidden: int = 8
    loss: str = "mse"

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ConfigError(f"option relation must be one of {', '.join(RELATIONS)}, got '{self.relation}'")
        if self.loss not in LOSSES:
            raise ConfigError(f"option loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        if self.hidden < 1:
            raise ConfigError(f"option hidden must be at least 1, got {self.hidden}")


def _map_shape(backbone: nn.Module) -> tuple[int, int] | None:
    """(channels, side) of a Conv-4's flattened output map; None for backbones that pool to a vector."""
    if not isinstance(backbone, Conv4):
        return None
    channels = backbone.layers[-1][0].out_channels
    return channels, math.isqrt(backbone.out_dim // channels)


def _relation_block(cin: int, side: int) -> tuple[nn.Sequential, int]:
    pool = nn.MaxPool2d(2) if side >= 2 else nn.Identity()  # small maps (32 px) cannot be pooled twice
    block = nn.Sequential(nn.Conv2d(cin, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), pool)
    return block, side // 2 if side >= 2 else side


def _score(hidden: int) -> nn.Linear:
    """The last layer, its bias set so that scores start at 0.2, a 5-way episode's prior, not at 0.5. Under
    MSE the early steps otherwise go to lowering every score: 60 steps on SynFACS left RelationNet at chance
    (21%) without it. The paper trains for 500k episodes, where this does not matter."""
    layer = nn.Linear(hidden, 1)
    nn.init.constant_(layer.bias, -math.log(4.0))
    return layer


class ConvRelation(nn.Module):
    def __init__(self, channels: int, side: int, hidden: int) -> None:
        super().__init__()
        self.channels, self.side = channels, side
        first, side = _relation_block(2 * channels, side)
        second, side = _relation_block(64, side)
        self.body = nn.Sequential(first, second, nn.Flatten(), nn.Linear(64 * side * side, hidden), nn.ReLU(),
                                  _score(hidden))  # fmt: skip

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """(P, 2, D) pairs of flattened maps -> (P,) relation logits."""
        maps = pairs.view(len(pairs), 2 * self.channels, self.side, self.side)
        return self.body(maps).squeeze(1)


class MLPRelation(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), _score(hidden))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.body(pairs.flatten(1)).squeeze(1)


@register_method("relationnet")
class RelationNet(FeatureMethod):
    """Episodic training; a learned relation module scores each (query, class) pair."""

    Options = Options
    training_loop = "episodic"
    profiles = {
        # CPU: Conv-4 at 64 px, 150 episodes of 5-way 5-shot with 5 queries (50 images): 111 s of one core in
        # the reference run (results/reference/, SynFACS_C 5-shot: 44.91%).
        # The harness's default training budget, as ProtoNet and EGS-Net get it.
        "quick": {"backbone": "conv4", "image_size": 64},
        # Sung et al.: Adam 1e-3, 5-way with 15 (1-shot) or 10 (5-shot) queries, 500k episodes at 84 px.
        "paper": {"backbone": "conv4", "image_size": 84,
                  "train": {"steps": 500000, "way": 5, "shot": 5, "query": 10, "lr": 1e-3, "weight_decay": 0.0,
                            "val_every": 5000, "val_episodes": 600}},
        # CPU budget that learns on real faces (issue 18): 2,000 episodes of 5-way 5-shot 5-query at 48 px;
        # 0.31 s of one core per step (1 thread, busy machine), as ProtoNet's long budget.
        "long": LONG_EPISODIC,
    }  # fmt: skip

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        shape = _map_shape(backbone)
        if self.options.relation == "conv" and shape is None:
            raise ConfigError("option relation=conv needs feature maps, which only the conv4 backbone gives; use mlp")
        if shape is not None and self.options.relation != "mlp":
            self.relation: nn.Module = ConvRelation(*shape, self.options.hidden)
        else:
            self.relation = MLPRelation(backbone.out_dim, self.options.hidden)

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        """Relation logits (queries, N); the sigmoid is monotone, so their argmax is the paper's."""
        classes = class_means(support_features, support_labels)
        q, n = len(query_features), len(classes)
        pairs = torch.stack([query_features.unsqueeze(1).expand(q, n, -1), classes.unsqueeze(0).expand(q, n, -1)], 2)
        return self.relation(pairs.flatten(0, 1)).view(q, n)

    def episode_loss(self, episode: Episode) -> torch.Tensor:
        logits = self.predict(episode.support, episode.support_labels, episode.query)
        if self.options.loss == "ce":
            return F.cross_entropy(logits, episode.query_labels)
        scores = torch.sigmoid(logits)
        return F.mse_loss(scores, F.one_hot(episode.query_labels, episode.way).to(scores.dtype))
