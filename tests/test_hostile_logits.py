"""Issue 26, item 2: the evaluator checks what a method returns, once per episode, on both paths.

NaN or inf logits, a wrong number of rows or columns, a 1-D tensor, a list or
integer labels each stop the evaluation with one `MethodOutputError` that names
the method and what it returned; before, NaN scored exactly chance in a clean record.
"""

from __future__ import annotations

import pytest
import torch
from toydata import TOY_COMPOUND, make_toy

from fsfer_bench.backbones import build_backbone
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.errors import MethodOutputError
from fsfer_bench.evaluate import check_logits, evaluate
from fsfer_bench.methods import FeatureMethod, FewShotMethod

WAY, SHOT, QUERY = 3, 1, 2
N_QUERY = WAY * QUERY

#: what a broken method returns for a (N_QUERY, WAY) episode, and what the error must say
ANSWERS = {
    "nan": (lambda n, w: torch.full((n, w), float("nan")), r"18 non-finite logit\(s\) \(NaN or inf\) of 18"),
    "inf": (lambda n, w: torch.full((n, w), float("inf")), r"non-finite"),
    "one-nan": (lambda n, w: torch.zeros(n, w).index_fill_(0, torch.tensor([0]), float("nan")), r" 3 non-finite"),
    "too-many-columns": (lambda n, w: torch.zeros(n, w + 2), r"shape \(6, 5\); expected .*\(6, 3\)"),
    "too-few-rows": (lambda n, w: torch.zeros(n - 1, w), r"shape \(5, 3\)"),
    "one-dimensional": (lambda n, w: torch.zeros(n), r"shape \(6,\)"),
    "a-list": (lambda n, w: [[0.0] * w] * n, r"returned a list as logits"),
    "integer-labels": (lambda n, w: torch.zeros(n, w, dtype=torch.long), r"torch.int64 logits \(labels\?\)"),
}


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-test", TOY_COMPOUND, subjects=10, size=16)


@pytest.fixture(scope="module")
def episodes(pool):
    return sample_episodes(pool, EpisodeSpec(WAY, SHOT, QUERY, 4, seed=0))


class _Predicting(FewShotMethod):
    name = "broken-predict"

    def __init__(self, answer) -> None:
        super().__init__(build_backbone("conv4", 16))
        self.answer = answer

    def predict(self, support, support_labels, query):
        return self.answer(len(query), int(support_labels.max()) + 1)


class _Classifying(FeatureMethod):
    name = "broken-classify"

    def __init__(self, answer) -> None:
        super().__init__(build_backbone("conv4", 16))
        self.answer = answer

    def classify(self, support, support_labels, query):
        return self.answer(len(query), int(support_labels.max()) + 1)


@pytest.mark.parametrize("kind", sorted(ANSWERS))
@pytest.mark.parametrize(
    ("method_cls", "feature_cache", "path"),
    [(_Predicting, True, "predict"), (_Classifying, True, "feature-cache"), (_Classifying, False, "embed+classify")],
)
def test_a_method_returning_no_logits_is_named(pool, episodes, kind, method_cls, feature_cache, path):
    answer, says = ANSWERS[kind]
    with pytest.raises(MethodOutputError, match=says) as caught:
        evaluate(method_cls(answer), pool, episodes, feature_cache=feature_cache)
    message = str(caught.value)
    assert f"method {method_cls.name} " in message and "(episode 1 of 4)" in message
    assert "\n" not in message


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_sound_logits_pass_with_their_values(dtype):
    logits = torch.randn(N_QUERY, WAY).to(dtype)
    values = check_logits(logits, N_QUERY, WAY, "m")
    assert values.shape == (N_QUERY, WAY)
    assert (values.argmax(1) == logits.float().argmax(1).numpy()).all()
