"""Suite-wide fixtures: an isolated image cache, the shared real-data folder, and the quick default run.

Tests marked `slow` (trainings of every method, process kills, the plugin install, the
reference regeneration) are left out unless `--run-slow` is given (or a `-m` expression
names them), so that the README's test command stays quick; `.ci/run` runs both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run the tests marked slow (the full suite)")


def _wants_slow(config: pytest.Config) -> bool:
    return config.getoption("--run-slow") or "slow" in (config.getoption("markexpr") or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _wants_slow(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def pytest_report_header(config: pytest.Config) -> str:
    return "slow tests: " + ("included" if _wants_slow(config) else "left out (add --run-slow for the full suite)")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep test caches out of the user's cache, but share them across the session."""
    if "FSFER_TEST_CACHE" in os.environ:
        os.environ["FSFER_CACHE"] = os.environ["FSFER_TEST_CACHE"]
    else:
        os.environ["FSFER_CACHE"] = str(tmp_path_factory.mktemp("fsfer-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real dataset samples (FSFER_DATA, e.g. ../shared/datasets); skips if absent."""
    root = os.environ.get("FSFER_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("FSFER_DATA is not set to the shared datasets folder")
    return Path(root).resolve()  # absolute: tests symlink into it from tmp folders


@pytest.fixture
def one_torch_thread():
    """Tiny models: on a busy 2-core machine two threads wait on each other 100x longer than the maths takes
    (2 s against 0.02 s a step, measured). Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
