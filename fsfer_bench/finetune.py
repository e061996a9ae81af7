"""Episode-level fine-tuning: train a small classifier on one episode's support features.

The third of the harness's training loops, next to episodic and batch training
(`training.py`). Methods such as Baseline and Baseline++ (Chen et al. 2019) fit a
new classifier per test episode on frozen features; they call `fit_head` from
their `classify`, so they keep the evaluator's fast path.

Every step is full-batch and the head starts from a deterministic initialisation
that the caller chose (zeros, prototypes), so an episode's answer depends on
nothing but its features: no random generator, and no dependence on which
episodes ran before it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fsfer_bench.errors import TrainingError

__all__ = ["fit_head"]


def fit_head(
    head: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int = 100,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 1e-3,
) -> nn.Module:
    """Fit `head` (features -> logits) to `labels` by `steps` full-batch SGD steps; returns it in eval mode.

    `features` are detached: only the head learns. Gradients are enabled here
    because the evaluator runs episodes under `torch.no_grad()`.
    """
    if steps < 0:
        raise TrainingError(f"episode fine-tuning needs steps >= 0, got {steps}")
    features = features.detach()
    head.train()
    with torch.enable_grad():
        optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        for step in range(steps):
            loss = F.cross_entropy(head(features), labels)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"episode fine-tuning loss became {loss.item()} at step {step + 1}; lower its learning rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return head.eval()
