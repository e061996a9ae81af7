"""The shared training loop: stages, freezing, NaN stops, validation, checkpoints and resume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from toydata import make_toy

from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.errors import TrainingError
from fsfer_bench.methods import FeatureMethod, Stage, TrainSettings
from fsfer_bench.training import TrainingReport, _Data, _Loop, _Validator, fit, split_validation

SETTINGS = TrainSettings(steps=6, way=3, shot=1, query=2, batch_size=8, val_every=3, val_episodes=5,
                         checkpoint_every=2, val_fraction=0.3)  # fmt: skip


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=24, per_class=2, size=16)


class TwoHeads(FeatureMethod):
    """A toy method with a batch head and an episodic path, trained in alternation."""

    def __init__(self, backbone, options=None, num_base_classes=7):
        super().__init__(backbone, options, num_base_classes)
        self.head = torch.nn.Linear(backbone.out_dim, num_base_classes)

    def classify(self, support_features, support_labels, query_features):
        return -torch.cdist(query_features, support_features)[:, : int(support_labels.max()) + 1]

    def training_stages(self, settings):
        backbone_params = list(self.backbone.parameters())
        head_params = list(self.head.parameters())

        def loss(data):
            episodic = self.episode_loss(data.episode)
            return episodic + F.cross_entropy(self.head(self.embed(data.batch.images)), data.batch.labels)

        return [Stage("alternate", loss, ("episode", "batch"),
                      trainable=lambda step: backbone_params if step % 2 == 0 else head_params)]  # fmt: skip


def _method(seed: int = 0) -> TwoHeads:
    torch.manual_seed(seed)
    return TwoHeads(build_backbone("conv4", 16))


def _snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _moved(before: dict, module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.named_parameters())


def test_trainable_freezes_all_other_parameters(pool):
    method = _method()
    stages = method.training_stages(SETTINGS)
    loop = _Loop(method, SETTINGS, _Data(pool, SETTINGS, "cpu", 0), _Validator(None, SETTINGS, 0), TrainingReport(),
                 "cpu", None, lambda it, **k: it)  # fmt: skip
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-2, weight_decay=1e-3)
    for step in range(4):
        backbone, head = _snapshot(method.backbone), _snapshot(method.head)
        loop._step(stages[0], step, optimizer)
        # parameters, not BatchNorm buffers: running statistics follow every forward pass in train mode
        assert _moved(backbone, method.backbone) == (step % 2 == 0)
        assert _moved(head, method.head) == (step % 2 == 1)


def test_nan_loss_stops_and_names_the_step(pool):
    class Diverges(TwoHeads):
        def training_stages(self, settings):
            return [Stage("episodic", lambda d: self.episode_loss(d.episode) * (float("nan") if d.step == 2 else 1.0))]

    torch.manual_seed(0)
    with pytest.raises(TrainingError, match=r"loss became nan at step 3 of stage 'episodic'.*learning rate"):
        fit(Diverges(build_backbone("conv4", 16)), pool, SETTINGS)


def test_validation_holds_out_whole_people(pool):
    train, val = split_validation(pool, 0.25, np.random.default_rng(0))
    assert val is not None and len(val) > 0
    assert not set(train.subjects) & set(val.subjects)
    assert len(train) + len(val) == len(pool)


def test_validation_runs_and_best_weights_are_kept(pool):
    report = fit(_method(), pool, replace(SETTINGS, val_every=2))
    assert [v["step"] for v in report.validation] == [2, 4, 6]
    assert report.best["accuracy"] == max(v["accuracy"] for v in report.validation)


def test_same_seed_same_weights(pool):
    a, b = _method(), _method()
    fit(a, pool, SETTINGS, seed=5)
    fit(b, pool, SETTINGS, seed=5)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_resumed_training_ends_where_uninterrupted_training_does(pool, tmp_path):
    full = _method()
    fit(full, pool, SETTINGS, seed=1)

    class Killed(Exception):
        pass

    interrupted = _method()
    calls = {"n": 0}
    original = interrupted.episode_loss

    def dying_loss(episode):
        calls["n"] += 1
        if calls["n"] == 5:  # dies during step 5, after the checkpoint of step 4
            raise Killed
        return original(episode)

    interrupted.episode_loss = dying_loss
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(Killed):
        fit(interrupted, pool, SETTINGS, seed=1, checkpoint=checkpoint)
    resumed = _method(seed=99)  # different init: everything must come from the checkpoint
    report = fit(resumed, pool, SETTINGS, seed=1, checkpoint=checkpoint, resume=True)
    assert report.resumed_from == 4
    for (k, va), vb in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(va, vb), k
