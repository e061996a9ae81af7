"""Leakage by database: datasets declare their database, same-database training is refused or, where a
split's protocol prescribes it, run with the identical images removed and the record saying so."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from toydata import TOY_COMPOUND, make_toy

from fsfer_bench.cli import main
from fsfer_bench.config import resolve_config
from fsfer_bench.data.dataset import concat
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.errors import ConfigError
from fsfer_bench.experiment import build_pools
from fsfer_bench.leakage import check_training_sources, database_of, drop_duplicates
from fsfer_bench.registry import register_dataset
from fsfer_bench.splits import Split, get_split, register_split

COPIED = 4  # training images that the compound set holds again, under compound labels


def _basic(_root, _options):
    return make_toy("Toy-basic", BASIC_WITH_NEUTRAL, subjects=12, size=16, seed=1)


def _compound(_root, _options):
    """Compound faces of other people, plus COPIED of the basic set's images relabelled, as one photograph can
    carry a basic label in one part of a database and a compound one in the other."""
    own = make_toy("Toy-compound", TOY_COMPOUND, subjects=12, size=16, seed=2, subject_offset=100)
    basic = _basic(None, None)
    copies = replace(basic.subset(np.arange(COPIED)), labels=np.zeros(COPIED, np.int64), classes=TOY_COMPOUND[:1],
                     name=own.name, sources=np.full(COPIED, own.name))  # fmt: skip
    return concat([own, copies], name="Toy-compound")


@pytest.fixture(autouse=True, scope="module")
def toy_database():
    register_dataset("Toy-basic", layout="in memory", source="tests", needs_files=False, database="Toy-DB")(_basic)
    register_dataset("Toy-compound", layout="in memory", source="tests", needs_files=False, database="Toy-DB")(
        _compound
    )
    register_dataset("Toy-plugin", layout="in memory", source="tests", needs_files=False)(_basic)
    register_split(Split("ToyDB_C", "Toy-compound", TOY_COMPOUND, ("Toy-basic",), "same database, not prescribed"))
    register_split(
        Split(
            "ToyDB_P", "Toy-compound", TOY_COMPOUND, ("Toy-plugin",), "prescribed", same_database_train=("Toy-basic",)
        )
    )


def test_builtin_datasets_of_one_database_say_so():
    assert database_of("RAF-DB") == database_of("RAF-DB-compound") == "RAF-DB"
    assert database_of("CKplus") == "CK+"  # native sequences and the CK+48 crops: one adapter, one database
    assert database_of("SynFACS-lab") != database_of("SynFACS-wild")  # one renderer, disjoint people


def test_a_dataset_without_a_declaration_is_its_own_database():
    assert database_of("Toy-plugin") == "Toy-plugin"
    assert database_of("not-registered-anywhere") == "not-registered-anywhere"


def test_training_on_the_targets_database_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        check_training_sources(("Toy-basic",), get_split("ToyDB_C"), allow_overlap=False)
    message = str(err.value)
    assert "Toy-basic" in message and "Toy-DB" in message and "--allow-overlap" in message and "\n" not in message
    assert check_training_sources(("Toy-basic",), get_split("ToyDB_C"), allow_overlap=True)


def test_raf_c_may_train_on_raf_db_basic_as_its_protocol_prescribes():
    assert check_training_sources(("RAF-DB",), get_split("RAF_C"), allow_overlap=False)
    with pytest.raises(ConfigError, match="--allow-overlap"):
        check_training_sources(("RAF-DB",), get_split("RAF_B"), allow_overlap=False)  # RAF_B's target: RAF-DB
    # training on the target dataset itself stays refused, whatever its name
    with pytest.raises(ConfigError):
        check_training_sources(("RAF-DB-compound",), get_split("RAF_C"), allow_overlap=False)


def test_allow_overlap_on_a_split_that_needs_none_is_accepted_silently():
    assert check_training_sources(("RAF-DB",), get_split("CFEE_C"), allow_overlap=True) is False


def test_identical_images_are_dropped_from_training_and_counted():
    train, test = _basic(None, None), _compound(None, None)
    kept, removed = drop_duplicates(train, test)
    assert removed == COPIED and len(kept) == len(train) - COPIED
    assert drop_duplicates(train, make_toy("Other", TOY_COMPOUND, subjects=3, size=16, seed=9))[1] == 0


def test_a_prescribed_same_database_run_drops_the_copies_and_says_so():
    pools = build_pools(resolve_config({"method": "pixels", "split": "ToyDB_P", "train_on": ["Toy-basic"]}))
    assert pools.same_database and pools.train_duplicates_removed == COPIED
    assert len(pools.train) == len(_basic(None, None)) - COPIED


def test_the_cli_refuses_in_one_line_and_records_the_fields(tmp_path):
    refused = CliRunner().invoke(main, ["run", "--method", "pixels", "--split", "ToyDB_C", "--episodes", "5",
                                        "--shot", "1", "--image-size", "16", "--out", str(tmp_path)])  # fmt: skip
    assert refused.exit_code == 2 and "--allow-overlap" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "Traceback" not in refused.output
    ran = CliRunner().invoke(main, ["run", "--method", "pixels", "--split", "ToyDB_P", "--train-on", "Toy-basic",
                                    "--episodes", "5", "--shot", "1", "--image-size", "16", "--format", "json",
                                    "--out", str(tmp_path)])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    record = json.loads(ran.stdout)[0]
    assert record["same_database"] is True and record["train_duplicates_removed"] == COPIED
    assert record["support_rule"] == "people" and record["transductive"] is False


def test_list_splits_shows_which_splits_train_and_test_on_one_database():
    out = CliRunner().invoke(main, ["list", "splits"]).stdout.splitlines()
    after = {line.split()[0]: out[i + 1] for i, line in enumerate(out[:-1]) if line and not line[0].isspace()}
    assert "same database when trained on RAF-DB" in after["RAF_C"]
    assert "SAME DATABASE" in after["ToyDB_C"]
    assert "same database" not in after["CFEE_C"].lower()
