"""The episode-level fine-tuning hook: deterministic, full-batch, usable under no_grad."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fsfer_bench.errors import TrainingError
from fsfer_bench.finetune import fit_head


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=generator) * 3
    labels = torch.arange(4).repeat_interleave(5)
    return centres[labels] + torch.randn(20, 16, generator=generator), labels


def _zero_head() -> nn.Linear:
    head = nn.Linear(16, 4)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def test_fits_the_support_set_from_zero():
    features, labels = _data()
    head = fit_head(_zero_head(), features, labels, steps=50, lr=0.05)
    assert not head.training
    assert (head(features).argmax(1) == labels).all()


def test_deterministic_and_works_under_no_grad_like_the_evaluator():
    features, labels = _data()
    with torch.no_grad():
        a = fit_head(_zero_head(), features, labels, steps=20)
        b = fit_head(_zero_head(), features, labels, steps=20)
    assert torch.equal(a.weight, b.weight) and a.weight.abs().sum() > 0


def test_only_the_head_learns():
    features, labels = _data()
    source = features.clone().requires_grad_()
    fit_head(_zero_head(), source, labels, steps=5)
    assert source.grad is None


def test_nan_and_bad_steps_are_clear_errors():
    features, labels = _data()
    with pytest.raises(TrainingError, match="fine-tuning loss became nan at step 1"):
        fit_head(_zero_head(), features * float("nan"), labels, steps=3)
    with pytest.raises(TrainingError, match="steps >= 0"):
        fit_head(_zero_head(), features, labels, steps=-1)
