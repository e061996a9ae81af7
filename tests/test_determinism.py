"""Training repeats bit for bit: deterministic kernels and a fixed thread count around training only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from toydata import register_toys

from fsfer_bench.cli import main
from fsfer_bench.determinism import THREADS_VARIABLE, reproducible_training
from fsfer_bench.errors import ConfigError

FAST = ["--method", "protonet", "--split", "Toy_C", "--image-size", "32", "--query", "5", "--episodes", "10",
        "--shot", "1", "--set", "train.steps=3", "--set", "train.val_every=0", "--quiet",
        "--format", "json"]  # fmt: skip


def _settings() -> tuple[bool, bool, int]:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_num_threads(),
    )


def test_the_settings_hold_inside_and_are_restored_after_even_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    before = _settings()
    with pytest.raises(RuntimeError, match="inside"), reproducible_training("cpu"):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()  # strict on CPU
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert _settings() == before


def test_other_devices_only_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    threads = torch.get_num_threads()
    with reproducible_training("cuda"):  # sets flags only; nothing runs on the device
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.get_num_threads() == threads  # torch's own count when none is configured


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_count_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(THREADS_VARIABLE, value)
    with pytest.raises(ConfigError, match=f"{THREADS_VARIABLE}='{value}' is not a thread count"), \
            reproducible_training():  # fmt: skip
        pass


def test_the_record_states_the_training_threads_and_the_process_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    register_toys()
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    threads = torch.get_num_threads()
    result = CliRunner().invoke(main, ["run", *FAST, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["training"]["torch_threads"] == 1
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()


@pytest.mark.slow
def test_two_fresh_processes_give_identical_numbers(tmp_path: Path) -> None:
    """Not two calls in one process: a new process has new hash seeds, allocations and thread pools."""
    args = ["run", "--method", "protonet", "--split", "SynFACS_C", "--image-size", "32", "--episodes", "30",
            "--set", "train.steps=6", "--set", "train.val_every=0", "--quiet", "--format", "json"]  # fmt: skip
    env = {**os.environ, THREADS_VARIABLE: "2"}
    records = []
    for name in ("a", "b"):
        cli = [sys.executable, "-c", "from fsfer_bench.cli import main; main()"]
        command = [*cli, *args, "--out", str(tmp_path / name)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=600)
        assert done.returncode == 0, done.stderr
        records.append(json.loads(done.stdout))
    for a, b in zip(*records):
        assert a["training"]["torch_threads"] == b["training"]["torch_threads"] == 2
        assert a["episode_hash"] == b["episode_hash"]
        assert a["accuracies"] == b["accuracies"]  # exactly, episode by episode
