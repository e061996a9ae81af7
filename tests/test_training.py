"""The shared training loop, through its public surface (`Trainer`, `fit`, `plan_validation`):
what each stage optimises, schedules, NaN stops, validation, model selection, checkpoints and resume."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from toydata import make_toy

from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.dataset import concat, make_dataset
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.errors import ConfigError, FsferWarning, TrainingError
from fsfer_bench.methods import FeatureMethod, Optimiser, ParamGroup, Schedule, Stage, TrainSettings, class_means
from fsfer_bench.record import Record
from fsfer_bench.training import Trainer, fit, plan_validation, split_validation

SETTINGS = TrainSettings(steps=6, way=3, shot=1, query=2, batch_size=8, val_every=3, val_episodes=5,
                         checkpoint_every=2, val_fraction=0.3)  # fmt: skip
QUIET = replace(SETTINGS, val_every=0)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: on a busy 2-core machine two threads wait on each other 100x longer than the maths takes
    (2 s against 0.02 s a step, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=24, per_class=2, size=16)


class TwoHeads(FeatureMethod):
    """A toy method with a batch head and an episodic path: backbone and head learn in alternation."""

    def __init__(self, backbone, options=None, num_base_classes=7):
        super().__init__(backbone, options, num_base_classes)
        self.head = torch.nn.Linear(backbone.out_dim, num_base_classes)

    def classify(self, support_features, support_labels, query_features):
        return -torch.cdist(query_features, support_features)[:, : int(support_labels.max()) + 1]

    def training_stages(self, settings):
        def loss(data):
            episodic = self.episode_loss(data.episode)
            return episodic + F.cross_entropy(self.head(self.embed(data.batch.images)), data.batch.labels)

        groups = [ParamGroup("backbone", tuple(self.backbone.parameters())),
                  ParamGroup("head", tuple(self.head.parameters()))]  # fmt: skip
        return [Stage("alternate", loss, ("episode", "batch"), groups=groups,
                      phases={"even": ("backbone",), "odd": ("head",)},
                      phase_of=lambda step: "odd" if step % 2 else "even")]  # fmt: skip


def _method(cls=TwoHeads, seed: int = 0) -> FeatureMethod:
    torch.manual_seed(seed)
    return cls(build_backbone("conv4", 16))


def _snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _params(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _moved(before: dict, module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.named_parameters())


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- what learns, and how


def test_each_phase_optimises_only_its_groups(pool):
    method = _method()
    trainer = Trainer(method, pool, QUIET)
    for step in range(4):
        assert trainer.state().phase == ("odd" if step % 2 else "even")
        backbone, head = _params(method.backbone), _params(method.head)
        trainer.step()
        # parameters, not BatchNorm buffers: running statistics follow every forward pass in train mode
        assert _moved(backbone, method.backbone) == (step % 2 == 0)
        assert _moved(head, method.head) == (step % 2 == 1)


def test_a_stage_optimises_only_the_groups_it_declares(pool):
    """Not even weight decay moves a parameter that no group of the stage holds."""

    class HeadOnly(TwoHeads):
        def training_stages(self, settings):
            loss = lambda d: F.cross_entropy(self.head(self.embed(d.batch.images)), d.batch.labels)  # noqa: E731
            return [Stage("head", loss, ("batch",), groups=[ParamGroup("head", tuple(self.head.parameters()))])]

    method = _method(HeadOnly)
    backbone, head = _params(method.backbone), _params(method.head)
    fit(method, pool, replace(QUIET, steps=3, weight_decay=0.1))
    assert not _moved(backbone, method.backbone) and _moved(head, method.head)


def test_group_learning_rates_follow_the_schedule_and_their_scale(pool):
    class Finetune(TwoHeads):
        def training_stages(self, settings):
            loss = lambda d: F.cross_entropy(self.head(self.embed(d.batch.images)), d.batch.labels)  # noqa: E731
            groups = [ParamGroup("backbone", tuple(self.backbone.parameters()), lr_scale=0.1),
                      ParamGroup("head", tuple(self.head.parameters()))]  # fmt: skip
            return [Stage("finetune", loss, ("batch",), steps=8, lr=0.5, groups=groups,
                          optimiser=Optimiser("sgd", 0.0, momentum=0.9, nesterov=True),
                          schedule=Schedule("step", warmup_steps=2, step_size=3, gamma=0.5))]  # fmt: skip

    trainer = Trainer(_method(Finetune), pool, QUIET)
    expected = [0.25, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]  # warm-up 2 steps, then x0.5 every 3 steps
    for lr in expected:
        assert trainer.state().lrs == pytest.approx({"backbone": 0.1 * lr, "head": lr})
        trainer.step()
    (stage,) = trainer.finish().stages
    assert stage["optimizer"] == {"name": "sgd", "weight_decay": 0.0, "momentum": 0.9, "nesterov": True}
    assert stage["schedule"] == {"name": "step", "warmup_steps": 2, "step_size": 3, "gamma": 0.5}
    assert [(g["name"], g["lr_scale"]) for g in stage["groups"]] == [("backbone", 0.1), ("head", 1.0)]


def test_default_schedule_is_cosine_without_warm_up():
    schedule = TrainSettings(lr=0.2).stage_schedule()
    assert [schedule.lr_at(0.2, s, 4) for s in range(4)] == pytest.approx(
        [0.2 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)]
    )
    assert Schedule("constant", warmup_steps=4).lr_at(1.0, 0, 10) == 0.25


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"optimizer": "rmsprop"}, "optimizer must be one of"), ({"schedule": "linear"}, "schedule must be one of"),
     ({"optimizer": "sgd", "momentum": 0.0, "nesterov": True}, "nesterov needs momentum")],
)  # fmt: skip
def test_bad_optimiser_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        s = TrainSettings(**settings)
        s.stage_optimiser(), s.stage_schedule()


def test_the_settings_choose_the_optimiser_of_stages_that_do_not(pool):
    """train.optimizer=sgd without momentum, weight decay or schedule: one step is exactly p - lr * grad."""
    settings = replace(QUIET, optimizer="sgd", momentum=0.0, weight_decay=0.0, schedule="constant", lr=0.1, steps=1,
                       augment=False)  # fmt: skip

    class Recorder(TwoHeads):
        def training_stages(self, settings):
            def loss(data):
                value = F.cross_entropy(self.head(self.embed(data.batch.images)), data.batch.labels)
                self.grads = torch.autograd.grad(value, list(self.head.parameters()), retain_graph=True)
                return value

            return [Stage("batch", loss, ("batch",))]

    method = _method(Recorder)
    before = _params(method.head)
    report = fit(method, pool, settings)
    for (name, p), g in zip(method.head.named_parameters(), method.grads):
        # (to float rounding: SGD fuses the multiply-add; Adam's first step would move each weight by ~lr)
        torch.testing.assert_close(p.detach(), before[name] - 0.1 * g, rtol=0, atol=1e-6)
    assert report.stages[0]["optimizer"]["name"] == "sgd"


def test_nan_loss_stops_and_names_the_step(pool):
    class Diverges(TwoHeads):
        def training_stages(self, settings):
            return [Stage("episodic", lambda d: self.episode_loss(d.episode) * (float("nan") if d.step == 2 else 1.0))]

    with pytest.raises(TrainingError, match=r"loss became nan at step 3 of stage 'episodic'.*learning rate"):
        fit(_method(Diverges), pool, SETTINGS)


def test_images_seen_counts_every_training_image(pool):
    report = fit(_method(), pool, replace(QUIET, steps=4))
    assert report.images_seen == 4 * (3 * (1 + 2) + 8)  # per step: a 3-way 1-shot 2-query episode and a batch of 8


def test_step_data_draws_what_the_stage_needs(pool):
    trainer = Trainer(_method(), pool, QUIET)
    data = trainer.step_data(trainer.stages[0], 0)
    assert (len(data.episode.support), len(data.episode.query), len(data.batch.images)) == (3, 6, 8)
    assert trainer.state().images_seen == 17


# ---- validation


def test_validation_holds_out_whole_people(pool):
    train, val = split_validation(pool, 0.25, np.random.default_rng(0))
    assert val is not None and len(val) > 0
    assert not set(train.subjects) & set(val.subjects)
    assert len(train) + len(val) == len(pool)


def test_validation_splits_by_person_within_each_source_that_has_people(pool):
    """A source without subjects does not turn the whole pool's split into an image-level one."""
    rng = np.random.default_rng(0)
    anonymous = make_dataset("Anon", rng.integers(0, 255, (40, 16, 16, 3), dtype=np.uint8),
                             [BASIC_WITH_NEUTRAL[i % 7] for i in range(40)])  # fmt: skip
    mixed = concat([pool, anonymous])
    train, val = split_validation(mixed, 0.25, np.random.default_rng(0))
    people = lambda d: set(d.subjects[d.sources == "Toy-train"])  # noqa: E731
    assert people(val) and people(train) and not people(train) & people(val)
    assert 0 < (val.sources == "Anon").sum() < 40 and (train.sources == "Anon").sum() > 0


def test_validation_shrinks_its_episodes_to_what_the_held_out_people_allow(pool):
    """3 held-out people cannot form 3-way 5-shot episodes with 5 other people's queries: 1-shot ones instead."""
    small = make_toy("Toy-small", BASIC_WITH_NEUTRAL, subjects=12, per_class=1, size=16)
    _, validation = plan_validation(small, replace(SETTINGS, shot=5, val_fraction=0.25), seed=0)
    assert validation.size == SETTINGS.val_episodes
    assert validation.shape()["shot"] == 1 and validation.shape()["way"] >= 2
    episodes = validation.episodes
    for e in range(len(episodes)):
        support = set(validation.pool.subjects[episodes.support[e].ravel()])
        assert not support & set(validation.pool.subjects[episodes.query[e].ravel()])


def test_too_few_held_out_people_train_without_selection_and_say_so(pool):
    tiny = make_toy("Toy-tiny", BASIC_WITH_NEUTRAL, subjects=4, per_class=2, size=16)  # 1 person held out
    with pytest.warns(FsferWarning) as caught:
        report = fit(_method(), tiny, replace(SETTINGS, val_fraction=0.25))
    assert len(caught) == 1 and "training without model selection" in str(caught[0].message)
    assert report.model_selection.startswith("none: the 1 person held out of Toy-tiny")
    assert report.validation_episodes == 0 and report.validation == []
    assert report.returned == {"stage": "alternate", "step": SETTINGS.steps}


def test_validation_turned_off_is_recorded_not_warned(pool):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = fit(_method(), pool, QUIET)
    assert report.model_selection == "none: validation turned off ([train] val_every = 0)"


@pytest.mark.shared_data
def test_validation_exists_on_ck_plus_and_jaffe(shared_data):
    """The CFEE_C training pool of the reference runs: 2-13 people per class, which 5-shot validation never fit."""
    from fsfer_bench.data.loading import DataSources
    from fsfer_bench.data.options import LoadOptions
    from fsfer_bench.experiment import training_pool
    from fsfer_bench.splits import get_split

    pool, _, _ = training_pool(("CKplus", "JAFFE"), get_split("CFEE_C"), DataSources(shared_data),
                               LoadOptions(image_size=32), False)  # fmt: skip
    settings = replace(TrainSettings(), val_episodes=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FsferWarning)
        train, validation = plan_validation(pool, settings, seed=0)
    assert validation.size == 100
    assert validation.shape()["way"] >= 2
    for source in ("CKplus", "JAFFE"):  # each source split by person
        assert not set(train.subjects[train.sources == source]) & set(validation.pool.subjects)


# ---- model selection


class Sabotaged(TwoHeads):
    """Answers the opposite of its prototypes while its `sabotage` buffer is set: validation scores on demand."""

    def __init__(self, backbone, options=None, num_base_classes=7):
        super().__init__(backbone, options, num_base_classes)
        self.register_buffer("sabotage", torch.zeros(()))

    def classify(self, support_features, support_labels, query_features):
        logits = -torch.cdist(query_features, class_means(support_features, support_labels))
        return logits * (1 - 2 * self.sabotage)

    def loss(self, data, sabotage: bool):
        self.sabotage.fill_(float(sabotage))
        return self.episode_loss(data.episode)


class Climbs(Sabotaged):
    """Stage 1 learns; stage 2 trains on as a saboteur, so validation peaks in stage 1."""

    def training_stages(self, settings):
        return [Stage("learn", lambda d: self.loss(d, False), steps=4),
                Stage("unlearn", lambda d: self.loss(d, True), steps=4)]  # fmt: skip


class RisesThenFalls(Sabotaged):
    """One stage whose last 4 steps sabotage: its validation peaks mid-stage."""

    def training_stages(self, settings):
        return [Stage("episodic", lambda d: self.loss(d, d.step >= 4), steps=8)]


SELECTING = replace(SETTINGS, val_every=4, val_episodes=10, augment=False)


def _run_recording(trainer: Trainer) -> dict[tuple[str, int], dict]:
    """Run to the end step by step; the weights after each step, by (stage, step)."""
    states = {}
    while not trainer.done:
        stage = trainer.state().stage
        trainer.step()
        states[(stage, trainer.report.steps[stage])] = _snapshot(trainer.method)
    trainer.finish()
    return states


def test_selection_never_returns_weights_from_an_earlier_stage(pool):
    trainer = Trainer(_method(Climbs), pool, SELECTING)
    states = _run_recording(trainer)
    report = trainer.report
    peak = max(report.validation, key=lambda v: v["accuracy"])
    assert peak["stage"] == "learn"  # the situation of the test: validation prefers stage 1
    assert report.returned == {"stage": "unlearn", "step": 4} and report.best["stage"] == "unlearn"
    final = _snapshot(trainer.method)
    assert _same(final, states[("unlearn", 4)])
    assert not _same(final, states[("learn", peak["step"])])


def test_distinguishable_validation_returns_the_best_checkpoint_of_the_final_stage(pool):
    trainer = Trainer(_method(RisesThenFalls), pool, SELECTING)
    states = _run_recording(trainer)
    report = trainer.report
    (peak, fallen) = report.validation
    assert fallen["accuracy"] < peak["accuracy"] - peak["ci95"]  # the situation of the test
    assert report.model_selection == "validation"
    assert report.returned == {"stage": "episodic", "step": 4}
    assert _same(_snapshot(trainer.method), states[("episodic", 4)])


def test_images_seen_returned_counts_the_images_behind_the_returned_weights(pool):
    trainer = Trainer(_method(RisesThenFalls), pool, SELECTING)
    report = trainer.run()
    assert report.returned == {"stage": "episodic", "step": 4} and report.steps == {"episodic": 8}
    per_step = report.images_seen // 8  # one 3-way 1-shot 2-query episode per step
    assert report.images_seen_returned == 4 * per_step < report.images_seen
    kept_last = Trainer(_method(Constant), pool, replace(SETTINGS, val_every=2)).run()
    assert kept_last.images_seen_returned == kept_last.images_seen > 0
    # a record written before the report kept the count derives the same from `returned` and the stages
    old = {k: v for k, v in report.to_dict().items() if k != "images_seen_returned"}
    assert Record(method="m", split="s", way=5, shot=1, query=5, seed=0, accuracies=[1.0], episode_hash="e",
                  training=old).images_seen_returned == report.images_seen_returned  # fmt: skip


class Constant(TwoHeads):
    """Always answers class 0: every validation scores exactly 1/way, on every episode."""

    def classify(self, support_features, support_labels, query_features):
        logits = torch.zeros(len(query_features), int(support_labels.max()) + 1)
        logits[:, 0] = 1.0
        return logits + 0 * query_features.sum()

    def training_stages(self, settings):
        return [Stage("batch", lambda d: F.cross_entropy(self.head(self.embed(d.batch.images)), d.batch.labels),
                      ("batch",))]  # fmt: skip


def test_saturated_validation_keeps_the_last_weights(pool):
    trainer = Trainer(_method(Constant), pool, replace(SETTINGS, val_every=2))
    states = _run_recording(trainer)
    report = trainer.report
    assert len({v["accuracy"] for v in report.validation}) == 1 and len(report.validation) == 3
    assert report.model_selection == "last (validation saturated)"
    assert report.returned == {"stage": "batch", "step": SETTINGS.steps}
    assert _same(_snapshot(trainer.method), states[("batch", SETTINGS.steps)])


def test_same_seed_same_weights(pool):
    a, b = _method(), _method()
    fit(a, pool, SETTINGS, seed=5)
    fit(b, pool, SETTINGS, seed=5)
    assert _same(_snapshot(a), _snapshot(b))


# ---- checkpoints


class Killed(Exception):
    pass


def _killed_at(method: TwoHeads, call: int) -> TwoHeads:
    """`method` whose episode loss raises on its `call`-th use."""
    calls = {"n": 0}
    original = method.episode_loss

    def dying_loss(episode):
        calls["n"] += 1
        if calls["n"] == call:
            raise Killed
        return original(episode)

    method.episode_loss = dying_loss
    return method


def test_resumed_training_ends_where_uninterrupted_training_does(pool, tmp_path):
    full = _method()
    full_report = fit(full, pool, SETTINGS, seed=1)
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(Killed):  # dies during step 5, after the checkpoint of step 4
        fit(_killed_at(_method(), 5), pool, SETTINGS, seed=1, checkpoint=checkpoint)
    resumed = _method(seed=99)  # different init: everything must come from the checkpoint
    report = fit(resumed, pool, SETTINGS, seed=1, checkpoint=checkpoint, resume=True)
    assert report.resumed_from == 4
    assert _same(_snapshot(full), _snapshot(resumed))
    assert report.images_seen == full_report.images_seen and report.validation == full_report.validation


def test_a_truncated_checkpoint_warns_and_training_starts_over(pool, tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(Killed):
        fit(_killed_at(_method(), 5), pool, SETTINGS, seed=1, checkpoint=checkpoint)
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])  # a full disk, or a copy cut short
    fresh = _method()
    fit(fresh, pool, SETTINGS, seed=1)
    resumed = _method()
    with pytest.warns(FsferWarning, match=rf"checkpoint {checkpoint} cannot be used .*training from scratch"):
        report = fit(resumed, pool, SETTINGS, seed=1, checkpoint=checkpoint, resume=True)
    assert report.resumed_from is None
    assert _same(_snapshot(fresh), _snapshot(resumed))
    assert Trainer(_method(), pool, SETTINGS, seed=1).restore(checkpoint)  # rewritten whole by the retraining


def test_a_failed_restore_changes_nothing(pool, tmp_path):
    """A checkpoint from another method fails half-way through loading: the trainer is as it was."""
    checkpoint = tmp_path / "other.pt"
    other = Trainer(_method(Climbs), pool, QUIET)
    other.step()
    other.save(checkpoint)
    method = _method()
    before = _snapshot(method)
    trainer = Trainer(method, pool, QUIET)
    with pytest.warns(FsferWarning, match="cannot be used"):
        assert not trainer.restore(checkpoint)
    assert _same(before, _snapshot(method)) and trainer.state().step == 0 and trainer.report.resumed_from is None
