"""Every method has a `long` profile (the CPU budget for real faces) that resolves, at 48 px unless marked."""

from __future__ import annotations

import pytest

from fsfer_bench.config import resolve_config
from fsfer_bench.registry import get_method, method_names

#: MAML keeps 32 px: it adapts on every test episode (see its profile's comment).
SMALLER = {"maml": 32}


SHIPPED = [n for n in method_names() if get_method(n).__module__.split(".")[0] in ("baselines", "egsnet")]


@pytest.mark.parametrize("name", SHIPPED)
def test_long_profile_resolves(name):
    assert len(SHIPPED) >= 13
    config = resolve_config({"method": name, "profile": "long"})
    assert config.image_size == SMALLER.get(name, 48)
    if get_method(name).training_loop != "none":
        assert config.train.steps >= 1600 and config.train.val_every > 0
