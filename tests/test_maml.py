"""MAML: meta-gradients against a hand-written reference, loop vs vmap, BatchNorm policies, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from fewshot_runs import CHANCE, evaluated, summary
from toydata import make_toy, register_toys

from baselines.maml import MAML, Options
from fsfer_bench.backbones import Backbone, build_backbone
from fsfer_bench.cli import main
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.errors import ConfigError, TrainingError
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import Episode, StepData


def _episodes(n: int, size: int = 16, way: int = 3, shot: int = 2, query: int = 2, seed: int = 0,
              dtype=torch.float32) -> list[Episode]:  # fmt: skip
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(way)
    return [
        Episode(torch.randn(way * shot, 3, size, size, generator=g, dtype=dtype), labels.repeat_interleave(shot),
                torch.randn(way * query, 3, size, size, generator=g, dtype=dtype), labels.repeat_interleave(query),
                labels)
        for _ in range(n)
    ]  # fmt: skip


@pytest.mark.slow
def test_beats_chance_on_synfacs_c_through_the_per_episode_path():
    result = evaluated("maml")
    assert result.path == "per-episode"
    assert result.accuracies.mean() > CHANCE + 6, summary("maml")


# ---- meta-gradients


class Tiny(Backbone):
    """tanh(W x + b): small enough to differentiate by hand, curved enough for second-order terms to matter."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(5, 4)
        self.out_dim = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x))


def _tiny_maml(**options) -> MAML:
    torch.manual_seed(0)
    return MAML(Tiny(), Options(way=3, inner_lr=0.5, **options)).double().train()


def _tiny_episodes(n: int) -> list[Episode]:
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(3)
    return [
        Episode(torch.randn(6, 5, generator=g, dtype=torch.float64), labels.repeat(2),
                torch.randn(9, 5, generator=g, dtype=torch.float64), labels.repeat(3), labels)
        for _ in range(n)
    ]  # fmt: skip


def _reference_meta_gradient(weights: list[torch.Tensor], episodes: list[Episode], steps: int, lr: float,
                             second_order: bool) -> list[torch.Tensor]:  # fmt: skip
    """MAML written out with plain autograd: create_graph keeps the inner gradients differentiable."""
    weights = [w.detach().clone().requires_grad_() for w in weights]

    def forward(p: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = p
        return torch.tanh(x @ w1.T + b1) @ w2.T + b2

    losses = []
    for ep in episodes:
        fast = weights
        for _ in range(steps):
            inner = F.cross_entropy(forward(fast, ep.support), ep.support_labels)
            grads = torch.autograd.grad(inner, fast, create_graph=second_order)
            fast = [p - lr * g for p, g in zip(fast, grads)]
        losses.append(F.cross_entropy(forward(fast, ep.query), ep.query_labels))
    return list(torch.autograd.grad(torch.stack(losses).mean(), weights))


def _method_meta_gradient(method: MAML, episodes: list[Episode]) -> list[torch.Tensor]:
    method.zero_grad()
    method.meta_loss(StepData(step=0, episodes=episodes)).backward()
    return [p.grad.clone() for p in (method.backbone.fc.weight, method.backbone.fc.bias, method.head.weight,
                                     method.head.bias)]  # fmt: skip


@pytest.mark.parametrize("path", ["loop", "vmap"])
def test_second_order_meta_gradient_matches_a_hand_written_reference(path):
    method, episodes = _tiny_maml(inner_steps=3, batched=path), _tiny_episodes(2)
    weights = [method.backbone.fc.weight, method.backbone.fc.bias, method.head.weight, method.head.bias]
    ours = _method_meta_gradient(method, episodes)
    second = _reference_meta_gradient(weights, episodes, 3, 0.5, second_order=True)
    first = _reference_meta_gradient(weights, episodes, 3, 0.5, second_order=False)
    for a, b in zip(ours, second):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    # the second-order terms are not negligible here, so the comparison can tell the orders apart
    assert max((a - b).abs().max().item() for a, b in zip(second, first)) > 1e-3


def test_first_order_meta_gradient_matches_its_reference():
    method, episodes = _tiny_maml(inner_steps=3, first_order=True), _tiny_episodes(2)
    weights = [method.backbone.fc.weight, method.backbone.fc.bias, method.head.weight, method.head.bias]
    for a, b in zip(_method_meta_gradient(method, episodes),
                    _reference_meta_gradient(weights, episodes, 3, 0.5, second_order=False)):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


# ---- the two paths


@pytest.mark.parametrize("bn", ["batch", "running"])
@pytest.mark.parametrize("first_order", [False, True])
def test_loop_and_vmap_agree(bn, first_order):
    """Same logits, meta-gradients and running statistics. In float64: in float32 both paths are equally
    right, but sum in different orders, and five inner steps can amplify the rounding past 1e-5."""
    torch.manual_seed(0)
    method = MAML(build_backbone("conv4", 16), Options(way=3, inner_steps=2, bn=bn, first_order=first_order))
    method = method.double().train()
    episodes = _episodes(3, dtype=torch.float64)
    start = {k: v.clone() for k, v in method.named_buffers()}
    results = {}
    for path in ("loop", "vmap"):
        for k, v in method.named_buffers():
            v.copy_(start[k])
        method.zero_grad()
        logits = method.adapt_and_query(episodes, path=path)
        sum(F.cross_entropy(lg, ep.query_labels) for lg, ep in zip(logits, episodes)).backward()
        results[path] = (logits.detach(), [p.grad.clone() for p in method.parameters()],
                         [b.clone() for b in method.buffers()])  # fmt: skip
    (la, ga, ba), (lb, gb, bb) = results["loop"], results["vmap"]
    torch.testing.assert_close(la, lb, rtol=0, atol=1e-5)
    for a, b in zip(ga + ba, gb + bb):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    if bn == "running":  # the statistics did move, and by the same amount
        assert any(not torch.equal(b, start[k]) for (k, _), b in zip(method.named_buffers(), ba))


def test_auto_path_is_the_loop_on_cpu():
    method = MAML(build_backbone("conv4", 16), Options(way=3))
    assert method._path(None, 4) == "loop" and method._path("vmap", 4) == "vmap" and method._path("vmap", 1) == "loop"


# ---- BatchNorm policies


def test_batch_policy_keeps_no_running_statistics_and_is_transductive():
    method = MAML(build_backbone("conv4", 16), Options(way=3, inner_steps=1)).eval()
    assert not list(method.buffers())
    (ep,) = _episodes(1)
    with torch.no_grad():
        whole = method.predict(ep.support, ep.support_labels, ep.query)
        half = method.predict(ep.support, ep.support_labels, ep.query[:3])
    assert not torch.allclose(whole[:3], half, atol=1e-4)  # queries are normalised together


def test_running_policy_uses_running_statistics_at_evaluation():
    torch.manual_seed(0)
    method = MAML(build_backbone("conv4", 16), Options(way=3, inner_steps=1, bn="running"))
    method.train()
    with torch.no_grad():
        method(torch.randn(8, 3, 16, 16))  # give the running statistics something other than 0 and 1
    method.eval()
    (ep,) = _episodes(1)
    with torch.no_grad():
        whole = method.predict(ep.support, ep.support_labels, ep.query)
        half = method.predict(ep.support, ep.support_labels, ep.query[:3])
    torch.testing.assert_close(whole[:3], half, rtol=0, atol=1e-5)  # each query answered on its own


def test_evaluation_builds_no_meta_graph():
    method = MAML(build_backbone("conv4", 16), Options(way=3, inner_steps=2)).eval()
    (ep,) = _episodes(1)
    with torch.no_grad():
        logits = method.predict(ep.support, ep.support_labels, ep.query)
    assert not logits.requires_grad
    assert all(p.grad is None for p in method.parameters())


# ---- bad input


def test_negative_inner_steps_is_a_config_error():
    with pytest.raises(ConfigError, match="inner_steps must be an integer >= 0"):
        Options(inner_steps=-1)
    with pytest.raises(ConfigError, match="test_inner_steps must be an integer >= 0"):
        Options(test_inner_steps=-2)


def test_negative_inner_steps_from_the_command_line_is_one_line(tmp_path):
    register_toys()
    result = CliRunner().invoke(main, ["run", "--method", "maml", "--split", "Toy_C", "--set", "option.inner_steps=-1",
                                       "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: MAML option inner_steps must be an integer >= 0 (0: no adaptation), got -1"


def test_too_many_ways_for_the_classifier_is_a_config_error():
    method = MAML(build_backbone("conv4", 16), Options(way=3)).eval()
    (ep,) = _episodes(1, way=4)
    with pytest.raises(ConfigError, match=r"too few for 4-way episodes; --set option.way=4"):
        method.predict(ep.support, ep.support_labels, ep.query)


@pytest.mark.parametrize("path", ["loop", "vmap"])
def test_nan_inner_loss_names_the_episode(path):
    method = MAML(build_backbone("conv4", 16), Options(way=3, inner_steps=2, batched=path)).train()
    episodes = _episodes(3)
    episodes[1].support[0] = float("nan")
    with pytest.raises(TrainingError, match=r"inner-loop loss became nan at inner step 1 of episode 2 of 3 in the "
                                            r"meta-batch of training step 8; lower option.inner_lr"):  # fmt: skip
        method.meta_loss(StepData(step=7, episodes=episodes))


def test_nan_inner_loss_at_evaluation_names_the_test_episode():
    method = MAML(build_backbone("conv4", 16), Options(way=3, inner_steps=2, inner_lr=1e30))
    pool = make_toy("Toy-nan", BASIC_WITH_NEUTRAL[:3], subjects=6, per_class=2, size=16)
    episodes = sample_episodes(pool, EpisodeSpec(way=3, shot=1, query=1, episodes=4, seed=0))
    message = r"loss became nan at inner step 2; lower option.inner_lr \(episode 1 of 4\)"
    with pytest.raises(TrainingError, match=message):
        evaluate(method, pool, episodes)


@pytest.mark.parametrize(("bn", "transductive"), [("batch", True), ("running", False)])
def test_batch_statistics_at_test_time_make_maml_transductive(bn, transductive):
    # the behaviour itself is checked in test_inductive.py; here, that the declaration follows the option
    assert MAML(build_backbone("conv4", 16), Options(bn=bn)).is_transductive() is transductive
    assert MAML.transductive  # the class's default options (bn="batch"), as `list methods` shows it


# ---- zero_head: the classifier starts each episode at zero


@pytest.mark.parametrize("zero_head", [True, False])
def test_zero_head_makes_predictions_blind_to_which_label_a_class_gets(zero_head):
    """Episode labels are a random permutation of the classes drawn, so a meta-learned head row cannot stand
    for a class; starting every episode from a zero head makes the answer equivariant to the labelling."""
    torch.manual_seed(0)
    method = MAML(build_backbone("conv4", 16), Options(inner_steps=2, inner_lr=0.5, way=3, zero_head=zero_head))
    ep = _episodes(1, way=3, shot=2, query=2)[0]
    relabel = torch.tensor([2, 0, 1])  # class c is called relabel[c]
    with torch.no_grad():
        plain = method.eval().predict(ep.support, ep.support_labels, ep.query)
        renamed = method.predict(ep.support, relabel[ep.support_labels], ep.query)
    equivariant = torch.allclose(renamed[:, relabel], plain, atol=1e-5)
    assert equivariant is zero_head


def test_zero_head_gives_the_heads_meta_parameters_no_gradient():
    torch.manual_seed(0)
    method = MAML(build_backbone("conv4", 16), Options(inner_steps=1, way=3, zero_head=True)).train()
    method.meta_loss(StepData(step=0, episodes=_episodes(2, way=3))).backward()
    assert method.head.weight.grad is None and method.backbone.layers[0][0].weight.grad.abs().sum() > 0
