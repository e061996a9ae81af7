"""Config precedence (flag > file > profile > defaults) and the errors of bad config."""

from __future__ import annotations

import pytest

from fsfer_bench.config import parse_shots, resolve_config
from fsfer_bench.errors import ConfigError


def _write(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults():
    config = resolve_config({})
    assert config.method == "protonet" and config.shots == (1, 5) and config.episodes == 600


def test_file_overrides_defaults_and_flags_override_file(tmp_path):
    path = _write(tmp_path, '[run]\nepisodes = 100\nseed = 3\nshot = "1,10"\n[train]\nsteps = 7\n')
    config = resolve_config({"seed": 9}, path)
    assert config.episodes == 100 and config.seed == 9 and config.shots == (1, 10) and config.train.steps == 7
    config = resolve_config({}, path, ["train.steps=11", "episodes=50"])
    assert config.train.steps == 11 and config.episodes == 50


def test_unset_flags_do_not_override_the_file(tmp_path):
    path = _write(tmp_path, "[run]\nsubject_disjoint = false\n")
    assert resolve_config({"subject_disjoint": None}, path).subject_disjoint is False


def test_malformed_toml_is_one_clear_error(tmp_path):
    path = _write(tmp_path, "[run\nmethod = 'x'")
    with pytest.raises(ConfigError, match=r"c.toml is not valid TOML"):
        resolve_config({}, path)


def test_unknown_keys_are_named_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'episode'.*did you mean 'episodes'"):
        resolve_config({}, _write(tmp_path, "[run]\nepisode = 5\n"))
    with pytest.raises(ConfigError, match=r"unknown key 'stpes' in \[train\]"):
        resolve_config({}, _write(tmp_path, "[train]\nstpes = 5\n"))


def test_wrong_types_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\[run\] episodes in c.toml must be an integer, got 'many'"):
        resolve_config({}, _write(tmp_path, '[run]\nepisodes = "many"\n'))


@pytest.mark.parametrize("text", ["1,,5", "one", "0,5", "5,5", ""])
def test_malformed_shot_lists(text):
    with pytest.raises(ConfigError, match="malformed shot list"):
        parse_shots(text)


def test_config_hash_ignores_where_things_live_but_not_what_runs():
    a = resolve_config({"out": "a", "data_root": "x"})
    b = resolve_config({"out": "b", "data_root": "y"})
    c = resolve_config({"seed": 1})
    assert a.hash() == b.hash() != c.hash()
    assert a.training_settings_hash() == resolve_config({"episodes": 10, "shots": "5"}).training_settings_hash()


def test_default_training_sources_are_spelt_out_so_hashes_differ():
    synfacs, cfee = resolve_config({"split": "SynFACS_C"}), resolve_config({"split": "CFEE_C"})
    assert synfacs.train_on == ("SynFACS-lab",) and cfee.train_on == ("RAF-DB",)
    assert synfacs.training_settings_hash() != cfee.training_settings_hash()
    assert resolve_config({"split": "CFEE_C", "train_on": ("RAF-DB",)}).hash() == cfee.hash()
