"""MAML and RelationNet learn on real faces (issue 24): a small training of each on FER2013's training partition,
at its `long` profile's settings with fewer steps, must leave it above chance on validation episodes drawn from the
training images it held out. No target image is read; the target split only names which classes are compound.

Both methods sat at chance on the wild base before their defaults were fixed (results/reference/diagnosis/).
"""

from __future__ import annotations

import pytest
import torch

from fsfer_bench.config import resolve_config
from fsfer_bench.experiment import build_pools, train

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

CHANCE = 20.0  # 5-way episodes


def validation_after(shared_data, method: str, steps: int, *overrides: str) -> dict:
    """The last validation of `method` trained `steps` steps on FER2013 at its long profile (with `overrides`,
    `--set` assignments), seed 0."""
    settings = {"method": method, "split": "CKplus", "train_on": ("FER2013",), "profile": "long",
                "data_root": str(shared_data)}  # fmt: skip
    sets = [f"train.steps={steps}", f"train.val_every={steps}", "train.val_episodes=100", *overrides]
    config = resolve_config(settings, None, sets)
    _, report = train(config, build_pools(config).train, torch.device("cpu"))
    assert report.val_images > 0 and report.validation_episodes == 100  # held-out training images
    return report.validation[-1]


@pytest.mark.parametrize("method, steps", [("maml", 300), ("relationnet", 400)])
def test_learns_on_real_faces(shared_data, method, steps):
    last = validation_after(shared_data, method, steps)
    assert last["accuracy"] - last["ci95"] > CHANCE + 1, f"{method} validation after {steps} steps: {last}"
