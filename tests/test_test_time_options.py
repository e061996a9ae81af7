"""Test-time options: out of the training hash, and truly without effect on the trained weights.

A method may declare options that only change how a trained model answers an
episode (`FewShotMethod.test_time_options`), so that one trained model serves
every value and an ablation of them is paired on the same weights. That is
only sound if training (validation-based checkpoint selection included) never
sees them: `experiment.train` trains with their defaults. These tests check both
halves on real methods.
"""

from __future__ import annotations

import pytest
import torch
from toydata import make_toy

from fsfer_bench.config import resolve_config
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.experiment import train
from fsfer_bench.registry import get_method, method_names

TRAIN = ["train.steps=4", "train.batch_size=8", "train.val_every=2", "train.val_episodes=4", "train.way=3",
         "train.shot=1", "train.query=1", "train.val_fraction=0.3"]  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pool():
    return make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=16, per_class=2, size=16)


def _config(method: str, *sets: str):
    return resolve_config({"method": method, "image_size": 16, "backbone": "conv4"}, None, [*TRAIN, *sets])


def test_every_declared_test_time_option_is_an_option_of_the_method():
    for name in method_names():
        cls = get_method(name)
        fields = set(cls.Options.__dataclass_fields__)
        assert cls.test_time_options <= fields, name


TEST_TIME = [("simpleshot", "norm", "l2"), ("baseline", "finetune_steps", 7),
             ("landmarks+features", "geometry_weight", 0.0)]  # fmt: skip


@pytest.mark.parametrize(("method", "option", "value"), TEST_TIME)
def test_a_test_time_option_leaves_the_training_hash_and_a_training_setting_does_not(method, option, value):
    default = _config(method)
    assert _config(method, f"option.{option}={value}").training_settings_hash() == default.training_settings_hash()
    assert _config(method, "train.steps=5").training_settings_hash() != default.training_settings_hash()


@pytest.mark.parametrize(("method", "option", "value"), [("simpleshot", "norm", "none"),
                                                         ("baseline", "finetune_lr", 0.5)])  # fmt: skip
def test_training_never_sees_a_test_time_option(pool, method, option, value):
    """Same weights (and the same checkpoint chosen by validation) whatever the option's value; the
    returned model answers with the value asked for."""
    device = torch.device("cpu")
    plain, plain_report = train(_config(method), pool, device)
    varied, varied_report = train(_config(method, f"option.{option}={value}"), pool, device)
    assert plain_report.returned == varied_report.returned
    a, b = plain.state_dict(), varied.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert getattr(varied.options, option) == value != getattr(plain.options, option)


def test_an_ablated_option_is_a_row_of_its_own_that_reuses_the_trained_model(tmp_path):
    """The same weights answer twice: once with the default, once as `simpleshot [norm=l2]`; a report
    keeps both rows instead of the newer replacing the older as a rerun."""
    from toydata import register_toys

    from fsfer_bench.experiment import run
    from fsfer_bench.results import load

    register_toys(size=16, subjects=12)
    flags = {"method": "simpleshot", "split": "Toy_C", "episodes": 4, "query": 2, "image_size": 16, "device": "cpu",
             "shots": (1,), "out": str(tmp_path), "backbone": "conv4"}  # fmt: skip
    sets = [*TRAIN, "train.val_every=0"]
    plain = run(resolve_config(flags, None, sets), reuse_training=True)[0]
    ablated = run(resolve_config(flags, None, [*sets, "option.norm=l2"]), reuse_training=True)[0]
    assert "train.steps=4" in plain.variant and ablated.variant == f"{plain.variant}, norm=l2"  # away from the profile
    assert ablated.training["reused"] and ablated.training_hash == plain.training_hash
    assert ablated.episode_hash == plain.episode_hash
    assert set(load(tmp_path)["method"]) == {f"simpleshot [{plain.variant}]", f"simpleshot [{ablated.variant}]"}
