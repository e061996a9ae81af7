"""Issue 26, item 1 and the store's minor items: every file read back goes through one guarded reader.

A named pipe, a link to /dev/zero, a folder or an over-sized file where the
harness expects a record, episode set, model, checkpoint, failure, claim,
config or `--weights` file is refused in one line naming it (or skipped, or
rebuilt, as that kind of file is), never read until memory runs out, and a pipe
never blocks. Each case runs under a watchdog: a read that blocks fails the test
instead of hanging it.
"""

from __future__ import annotations

import errno
import os
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fakestore import fill_store, record

from fsfer_bench import files
from fsfer_bench.backbones import build_backbone, load_weights
from fsfer_bench.claims import ClaimBoard
from fsfer_bench.cli import main
from fsfer_bench.config import read_toml
from fsfer_bench.errors import ConfigError, FsferWarning, StoreError
from fsfer_bench.files import DamagedFileError, DiskFullError, read_json, write_atomic
from fsfer_bench.model_cache import CacheMiss, ModelCache
from fsfer_bench.results import Store
from fsfer_bench.sweep import read_failures
from fsfer_bench.training import TrainingReport

WATCHDOG_S = 20.0


def within(fn, seconds: float = WATCHDOG_S):
    """`fn()`'s value, or a test failure if it blocks for `seconds` (it is left blocked in a daemon thread)."""
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def hostile(path: Path, kind: str) -> Path:
    """Put a non-regular file of `kind` at `path` (replacing what is there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    return path


KINDS = ("fifo", "dev-zero", "folder")
SAYS = {"fifo": "a named pipe", "dev-zero": "a character device", "folder": "a folder"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_reader_refuses_what_is_not_a_regular_file_at_once(tmp_path, kind):
    path = hostile(tmp_path / "x.json", kind)
    with pytest.raises(DamagedFileError, match=rf"{path}.*{SAYS[kind]}.*, not a regular file"):
        within(lambda: read_json(path))


def test_the_reader_bounds_size_before_reading(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:  # sparse: no disk used
        f.truncate(files.MAX_JSON_BYTES + 1)
    with pytest.raises(DamagedFileError, match=rf"{path}.*over the {files.MAX_JSON_BYTES}-byte limit"):
        within(lambda: read_json(path))


def test_a_missing_file_is_absence_not_damage(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "nothing.json")


def test_deeply_nested_json_is_damage_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(DamagedFileError, match="nested too deeply"):
        read_json(path, expect=object)


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "results"
    fill_store(root, {"protonet": 62.0}, splits=("Fake_C",), shots=(1,))
    return root


def test_report_skips_hostile_records_naming_each(store):
    folder = store / "records" / "Fake_C" / "protonet"
    hostile(folder / "pipe.json", "fifo")
    hostile(folder / "zero.json", "dev-zero")
    (folder / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    result = within(lambda: CliRunner().invoke(main, ["report", "--results", str(store)]))
    assert result.exit_code == 0, result.output
    assert "protonet" in result.stdout
    for name, why in (("pipe.json", "named pipe"), ("zero.json", "character device"), ("deep.json", "nested")):
        assert any(name in line and why in line for line in result.stderr.splitlines()), result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_an_episode_set_that_is_not_a_file_is_damage(store, kind):
    path = hostile(store / "episodes" / "abc.npz", kind)
    with pytest.raises(DamagedFileError, match=str(path)):
        within(lambda: Store(store).episodes("abc"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_failure_file_still_marks_its_cell_failed(tmp_path, kind):
    hostile(tmp_path / "failures" / "cellhash.json", kind)
    with pytest.warns(FsferWarning, match=rf"cellhash.json.*{SAYS[kind]}.*--retry-failed reruns it"):
        failures = within(lambda: read_failures(tmp_path))
    assert list(failures) == ["cellhash"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_claim_file_holds_no_cell(tmp_path, kind):
    board = ClaimBoard(tmp_path, lease_s=3600)
    hostile(tmp_path / "cell.0", kind)
    with pytest.warns(FsferWarning, match=r"cell.0 is damaged"):
        claim = within(lambda: board.acquire("cell"))
    assert claim is not None and claim.path.name == "cell.1"


def _claim_dated(board: ClaimBoard, ahead_s: float) -> None:
    path = board.root / "cell.0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"pid": 1, "host": "elsewhere", "token": "theirs"}')
    stamp = time.time() + ahead_s
    os.utime(path, (stamp, stamp))


def test_a_claim_dated_past_the_lease_in_the_future_is_stale_and_said(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=60)
    _claim_dated(board, ahead_s=365 * 86400)
    with pytest.warns(FsferWarning, match=r"cell.0 is dated \d+ s in the future \(clock skew\?\); treated as stale"):
        assert board.acquire("cell") is not None


def test_a_small_clock_skew_keeps_a_live_claim(tmp_path):
    board = ClaimBoard(tmp_path, lease_s=60)
    _claim_dated(board, ahead_s=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert board.acquire("cell") is None
        assert board.holder("cell").age_s == 0.0


def _cached_entry(tmp_path) -> tuple[ModelCache, torch.nn.Module]:
    from baselines.protonet import ProtoNet

    method = ProtoNet(build_backbone("conv4", 16))
    cache = ModelCache(tmp_path / "models")
    cache.save(method, TrainingReport(), "h")
    return cache, method


@pytest.mark.parametrize("part", ["weights", "report"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_model_cache_entry_is_a_miss_naming_it(tmp_path, part, kind):
    cache, method = _cached_entry(tmp_path)
    path = hostile(getattr(cache, part)("h"), kind)
    miss = within(lambda: cache.load(method, "h"))
    assert isinstance(miss, CacheMiss) and str(path) in miss.damaged and SAYS[kind] in miss.damaged


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_weights_are_refused_in_one_line(tmp_path, kind):
    path = hostile(tmp_path / "w.pt", kind)
    with pytest.raises(ConfigError, match=rf"weights file {path} cannot be used: {SAYS[kind]}"):
        within(lambda: load_weights(build_backbone("resnet18", 32), path))


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_config_is_refused_in_one_line(tmp_path, kind):
    path = hostile(tmp_path / "c.toml", kind)
    with pytest.raises(ConfigError, match=rf"config file {path} cannot be read: {SAYS[kind]}"):
        within(lambda: read_toml(path))


def test_a_deep_or_huge_config_is_refused_naming_the_cause(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match=rf"config file {deep} is nested too deeply"):
        read_toml(deep)
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as f:
        f.truncate(64 * 2**20)
    with pytest.raises(ConfigError, match=rf"config file {huge} cannot be read: \d+ bytes, over the"):
        within(lambda: read_toml(huge))


def test_a_config_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[run]\nseed = 3\n")
    assert read_toml(path) == {"run": {"seed": 3}}


def _no_space(*_args: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("kind", ["json", "torch"])
def test_a_full_disk_keeps_the_previous_file_and_says_so_in_one_line(tmp_path, monkeypatch, kind):
    path = tmp_path / f"model.{kind}"
    path.write_bytes(b"the last good one")
    monkeypatch.setattr(files.os, "fsync", _no_space)
    write = files.write_json_atomic if kind == "json" else files.write_torch_atomic
    with pytest.raises(DiskFullError) as caught:
        write(path, {"weights": torch.zeros(3)} if kind == "torch" else {"a": 1})
    error = caught.value
    assert isinstance(error, StoreError) and isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert str(error).startswith(f"cannot write {path} (No space left on device); the previous file there is kept")
    assert "\n" not in str(error)
    assert path.read_bytes() == b"the last good one"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_an_error_that_is_not_a_full_disk_is_left_as_it_is(tmp_path):
    def broken(_f: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "x", broken)
    assert not isinstance(caught.value, DiskFullError)


def test_report_refuses_nothing_when_every_record_is_sound(store):
    """The guard costs sound stores nothing: a plain record reads back equal."""
    path = store / "records" / "Fake_C" / "protonet" / "extra.json"
    files.write_json_atomic(path, record("protonet", seed=5))
    assert read_json(path)["seed"] == 5
