"""Suite-wide fixtures: an isolated image cache, and the shared real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
