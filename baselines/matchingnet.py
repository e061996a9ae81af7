"""Matching Networks (Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra, NeurIPS 2016).

A query's class distribution is an attention-weighted vote of the support
labels, the attention a softmax over cosine similarities between the query and
each support image. Unlike a prototype, every support image keeps its own vote.

Full-context embeddings (FCE, off by default; `--set option.fce=true`) make the
embeddings depend on the whole support set: a bidirectional LSTM over the
support features, and an attention LSTM that reads the support `fce_steps`
times for each query. FCE acts on backbone features, so MatchingNet stays a
`FeatureMethod` and keeps the evaluator's fast path either way.

Departure from the paper: the cosine similarities are multiplied by `scale`
(default 10) before the softmax. With raw cosines in [-1, 1] (the paper's
choice, `--set option.scale=1`) the attention is nearly uniform over the
support and training is slow; Chen et al. (2019) scale by 100 for the same
reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.budgets import LONG_EPISODIC
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import FeatureMethod, register_method


@dataclass(frozen=True)
class Options:
    """`fce`: full-context embeddings; `fce_steps`: reads of the support per query; `scale`: cosine temperature."""

    fce: bool = False
    fce_steps: int = 5
    scale: float = 10.0

    def __post_init__(self) -> None:
        if self.fce_steps < 1:
            raise ConfigError(f"option fce_steps must be at least 1, got {self.fce_steps}")
        if self.scale <= 0:
            raise ConfigError(f"option scale must be positive, got {self.scale}")


class FullContextEmbedding(nn.Module):
    """g: support features in the context of the whole support set; f: queries attending over it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.support_lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=True)
        self.query_cell = nn.LSTMCell(2 * dim, dim)

    def support(self, features: torch.Tensor) -> torch.Tensor:
        """g(x_i, S) = x_i + forward state + backward state, the support read as one sequence."""
        out, _ = self.support_lstm(features.unsqueeze(0))
        forward, backward = out[0].chunk(2, dim=1)
        return features + forward + backward

    def query(self, features: torch.Tensor, support: torch.Tensor, steps: int) -> torch.Tensor:
        """f(x, S): `steps` rounds of attention over g(S), the LSTM state kept next to the query (skip connection)."""
        h, c = features, torch.zeros_like(features)
        for _ in range(steps):
            read = torch.softmax(h @ support.T, dim=1) @ support
            h, c = self.query_cell(torch.cat([features, read], dim=1), (h, c))
            h = h + features
        return h


@register_method("matchingnet")
class MatchingNet(FeatureMethod):
    """Episodic training; cosine attention over the support set, optional full-context embeddings."""

    Options = Options
    training_loop = "episodic"
    profiles = {
        # CPU: Conv-4 at 64 px, 150 episodes of 5-way 5-shot with 5 queries (50 images): 89 s of one core in
        # the reference run (results/reference/, SynFACS_C 5-shot: 54.18%).
        # The harness's default training budget, as ProtoNet and EGS-Net get it.
        "quick": {"backbone": "conv4", "image_size": 64},
        # Vinyals et al. train on mini-ImageNet with Conv-4 at 84 px, 5-way, 15 queries; the step count
        # is a GPU budget comparable to ProtoNet's.
        "paper": {"backbone": "conv4", "image_size": 84,
                  "train": {"steps": 60000, "way": 5, "shot": 5, "query": 15, "lr": 1e-3, "weight_decay": 0.0,
                            "val_every": 2000, "val_episodes": 600}},
        # CPU budget that learns on real faces (issue 18): 2,000 episodes of 5-way 5-shot 5-query at 48 px;
        # 0.31 s of one core per step (1 thread, busy machine), as ProtoNet's long budget.
        "long": LONG_EPISODIC,
    }  # fmt: skip

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        self.context = FullContextEmbedding(backbone.out_dim) if self.options.fce else None

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        """Log of the attention-weighted label vote: log-probabilities, so the default cross-entropy loss is the
        paper's log-likelihood (log-softmax leaves log-probabilities unchanged)."""
        if self.context is not None:
            support_features = self.context.support(support_features)
            query_features = self.context.query(query_features, support_features, self.options.fce_steps)
        similarity = F.normalize(query_features, dim=1) @ F.normalize(support_features, dim=1).T
        attention = torch.softmax(self.options.scale * similarity, dim=1)
        votes = attention @ F.one_hot(support_labels, int(support_labels.max()) + 1).to(attention.dtype)
        return torch.log(votes.clamp_min(1e-8))
