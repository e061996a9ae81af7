"""The `wild` training set: the in-the-wild sets present are trained on and named in the record;
with none present, one line names the folders looked for."""

from __future__ import annotations

import fakes
import pytest
from click.testing import CliRunner
from toydata import register_toys

from fsfer_bench.cli import main
from fsfer_bench.config import resolve_config
from fsfer_bench.errors import FsferWarning
from fsfer_bench.experiment import build_pools
from fsfer_bench.splits import expand_train_on


@pytest.fixture(autouse=True, scope="module")
def toys():
    register_toys()  # a target without files, so that only the training sources are looked for


def test_wild_names_the_in_the_wild_sets():
    assert expand_train_on(["wild"]) == ("FER2013", "SFEW", "RAF-DB", "AffectNet")
    assert expand_train_on(["WILD", "CKplus"]) == ("FER2013", "SFEW", "RAF-DB", "AffectNet", "CKplus")


def test_wild_trains_on_those_present_and_says_which(tmp_path):
    fakes.fer2013_folders(tmp_path)
    fakes.sfew(tmp_path)
    config = resolve_config({"split": "Toy_C", "train_on": ("wild",), "data_root": str(tmp_path), "image_size": 32})
    with pytest.warns(FsferWarning, match="training on FER2013, SFEW; not found: RAF-DB, AffectNet"):
        pools = build_pools(config)
    assert pools.train_on == ("FER2013", "SFEW") and pools.skipped_sources == ("RAF-DB", "AffectNet")
    assert set(pools.train.sources) == {"FER2013", "SFEW"}


def test_wild_with_none_present_names_the_folders(tmp_path):
    result = CliRunner().invoke(main, ["run", "--split", "Toy_C", "--train-on", "wild", "--data-root", str(tmp_path),
                                       "--image-size", "32", "--out", str(tmp_path / "out"), "--quiet"])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    folders = ", ".join(f"{tmp_path}/{name}" for name in ("FER2013", "SFEW", "RAF-DB", "AffectNet"))
    assert f"none of the training sources FER2013, SFEW, RAF-DB, AffectNet was found; looked for {folders}" in lines[0]
