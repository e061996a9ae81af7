"""MatchingNet: cosine attention over the support set, full-context embeddings, and a SynFACS_C result."""

from __future__ import annotations

import pytest
import torch
from fewshot_runs import CHANCE, evaluated, summary

from baselines.matchingnet import MatchingNet, Options
from fsfer_bench.backbones import build_backbone
from fsfer_bench.config import resolve_config
from fsfer_bench.errors import ConfigError


def _method(**options) -> MatchingNet:
    torch.manual_seed(0)
    return MatchingNet(build_backbone("conv4", 16), Options(**options))


@pytest.mark.slow
def test_beats_chance_on_synfacs_c_through_the_fast_path():
    result = evaluated("matchingnet")
    assert result.path == "feature-cache"
    assert result.accuracies.mean() > CHANCE + 10, summary("matchingnet")


def test_answers_are_log_probabilities_of_an_attention_vote():
    support = torch.eye(3, 8).repeat_interleave(2, 0)  # two identical images per class
    labels = torch.arange(3).repeat_interleave(2)
    query = torch.eye(3, 8)[[2, 0]] + 0.05
    logits = _method(scale=10.0).classify(support, labels, query)
    assert torch.allclose(logits.exp().sum(1), torch.ones(2), atol=1e-5)
    assert logits.argmax(1).tolist() == [2, 0]
    # raw cosine (the paper's scale 1) gives a flatter, still correct, vote
    flat = _method(scale=1.0).classify(support, labels, query)
    assert flat.exp().max() < logits.exp().max() and flat.argmax(1).tolist() == [2, 0]


def test_full_context_embeddings_depend_on_the_whole_support_set():
    method = _method(fce=True, fce_steps=2).eval()
    support, labels, query = torch.randn(6, 3, 16, 16), torch.arange(3).repeat_interleave(2), torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        features = method.embed(torch.cat([support, query]))
        before = method.classify(features[:6], labels, features[6:])
        shuffled = torch.tensor([1, 0, 3, 2, 5, 4])  # same classes, support read in another order
        after = method.classify(features[:6][shuffled], labels[shuffled], features[6:])
        fast = method.predict(support, labels, query)
    assert not torch.allclose(before, after)  # the LSTM reads the support as a sequence
    assert torch.allclose(before, fast, atol=1e-5)  # FCE acts on features: the fast path stays exact
    method.train()
    loss = torch.nn.functional.cross_entropy(method.predict(support, labels, query), torch.arange(3).repeat(2)[:4])
    loss.backward()
    assert method.context.query_cell.weight_ih.grad.abs().sum() > 0


def test_fce_is_an_option_from_the_command_line():
    config = resolve_config({"method": "matchingnet"}, assignments=["option.fce=true", "option.fce_steps=3"])
    assert config.options["fce"] is True and config.options["fce_steps"] == 3
    with pytest.raises(ConfigError, match="--set option.fce must be true or false"):
        resolve_config({"method": "matchingnet"}, assignments=["option.fce=3"])
    with pytest.raises(ConfigError, match="fce_steps must be at least 1"):
        resolve_config({"method": "matchingnet"}, assignments=["option.fce_steps=0"])
