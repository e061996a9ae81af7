"""Issue 15, the config layer: every bad setting is one line, exit 2, naming the setting as written.

Each case runs through the CLI (click's runner, in process) or `resolve_config`,
and checks the message names the setting the way the user wrote it: `--seed`,
`--set train.lr`, `[run] ... in c.toml`.
"""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from fsfer_bench.cli import main
from fsfer_bench.config import resolve_config
from fsfer_bench.errors import ConfigError
from fsfer_bench.sweep import load_sweep

TINY = ["--set", "train.steps=1", "--episodes", "2", "--image-size", "16", "--quiet"]


def run_cli(tmp_path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "store"), *TINY, *args])
    return result.exit_code, result.output


def assert_one_line_error(code: int, output: str, pattern: str) -> None:
    import re

    lines = output.strip().splitlines()
    assert code == 2, output
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in output and "internal error" not in output


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--seed", "-1"], r"--seed must be at least 0 and at most 4294967295, got -1"),
        (["--seed", "100000000000000000000000"], r"--seed must be .*got 100000000000000000000000"),
        (["--device", "cuda:abc"], r"--device: 'cuda:abc' is not valid \(use auto, cpu, cuda or cuda:N\)"),
        (["--set", "train.lr=-1"], r"--set train.lr must be greater than 0 .*got -1"),
        (["--set", "train.weight_decay=nan"], r"--set train.weight_decay must be a finite number, got nan"),
        (["--set", "train.val_fraction=2.0"], r"--set train.val_fraction must be at least 0 and below 1, got 2.0"),
        (["--set", "train.checkpoint_every=0", "--resume"], r"--set train.checkpoint_every must be at least 1"),
        (["--set", "data_paths=5"], r"--set data_paths must be a table of names to strings"),
        (["--set", "train_on=[1]"], r"--set train_on must be a list of names"),
        (["--way", "0"], r"--way must be at least 2 .*got 0 \(an episode needs two classes"),
        (["--way", "1"], r"--way must be at least 2"),
        (["--set", "train.way=1"], r"--set train.way must be at least 2"),
        (["--set", "way=1"], r"--set way must be at least 2"),
        (["--set", "option.nope=1"], r"--set option.nope: method protonet has no options"),
        (
            ["--profile", "paper"],
            r"protonet has no profile 'paper' \(its profiles: long, quick\).*config file to add one",
        ),
        (["--out", ""], r"--out must not be empty"),
    ],
)
def test_bad_settings_are_one_line_naming_the_setting(tmp_path, args, pattern):
    assert_one_line_error(*run_cli(tmp_path, *args), pattern)
    assert not (tmp_path / "store" / "records").exists()  # refused before any work


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line(tmp_path):
    assert_one_line_error(*run_cli(tmp_path, "--device", "cuda:0"), r"--device cuda:0 .*torch sees no CUDA device")


def test_a_binary_config_file_is_one_line(tmp_path):
    (tmp_path / "c.toml").write_bytes(bytes(range(256)) * 4)
    assert_one_line_error(*run_cli(tmp_path, "--config", str(tmp_path / "c.toml")), r"c.toml is not TOML: .*UTF-8")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("run = 5\n", r"\[run\] in c.toml must be a table"),
        ("[method]\nprotonet = 3\n", r"\[method.protonet\] in c.toml must be a table"),
        ("method = 3\n", r"\[method\] in c.toml must be a table"),
        ("[run]\ntrain_on = 5\n", r"\[run\] train_on in c.toml must be a list of names"),
        ("[run]\nseed = -3\n", r"\[run\] seed in c.toml must be at least 0"),
        ("[train]\nlr = 0\n", r"\[train\] lr in c.toml must be greater than 0"),
        ("[method.matchingnet.profiles.quick]\ntrain = 5\n", r"profiles.quick\] in c.toml: train must be a table"),
        ("[method.protonet.profiles.quick]\ntrain = 5\n", r"profiles.quick\] in c.toml: train must be a table"),
        ("[method.matchingnet.profiles.quick]\nseed = -1\n", r"'seed' of \[method.matchingnet.profiles.quick\]"),
        ("[method.matchingnet]\nprofiles = 2\n", r"\[method.matchingnet.profiles\] in c.toml must be a table"),
        ("[data]\npaths = 5\n", r"\[data\] paths in c.toml must be a table"),
    ],
)
def test_config_file_values_of_the_wrong_shape_name_the_setting(tmp_path, text, pattern):
    (tmp_path / "c.toml").write_text(text)
    args = ["--config", str(tmp_path / "c.toml")]
    if "matchingnet" in text:
        args += ["--method", "matchingnet"]
    assert_one_line_error(*run_cli(tmp_path, *args), pattern)


def test_a_sweep_file_with_sweep_not_a_table_is_one_error(tmp_path):
    (tmp_path / "s.toml").write_text("sweep = 3\n")
    with pytest.raises(ConfigError, match=r"\[sweep\] must be a table"):
        load_sweep({}, tmp_path / "s.toml")


def test_good_settings_still_resolve():
    config = resolve_config({"seed": 2**32 - 1, "device": "cuda:1"}, None, ["train.lr=0.5", "train.val_fraction=0"])
    assert config.seed == 2**32 - 1 and config.train.lr == 0.5 and config.train.val_fraction == 0.0
    assert resolve_config({}, None, ["train_on=CFEE,JAFFE"]).train_on == ("CFEE", "JAFFE")


def test_min_per_class_too_high_suggests_lowering_it_with_the_largest_usable_value():
    import numpy as np

    from fsfer_bench.data.dataset import make_dataset
    from fsfer_bench.episodes import EpisodeSpec, sample_episodes
    from fsfer_bench.errors import EpisodeError

    labels = ["happy"] * 30 + ["sad"] * 25 + ["angry"] * 20 + ["fearful"] * 12
    pool = make_dataset("toy", np.zeros((len(labels), 2, 2, 3), np.uint8), labels)
    spec = EpisodeSpec(way=3, shot=1, query=5, episodes=2)
    with pytest.raises(EpisodeError, match=r"--min-per-class 100000 drops the others: lower it to 20 or less"):
        sample_episodes(pool, spec, min_per_class=100000)
    assert sample_episodes(pool, spec, min_per_class=20).classes.shape == (2, 3)  # 2 episodes of 3 classes


def test_a_bad_value_in_a_file_is_refused_even_where_a_flag_overrides_it(tmp_path):
    (tmp_path / "c.toml").write_text("[run]\ntrain_on = 5\nseed = -1\n")
    with pytest.raises(ConfigError, match=r"\[run\] train_on in c.toml must be a list of names"):
        resolve_config({"train_on": ("CKplus",), "seed": 0}, tmp_path / "c.toml")
