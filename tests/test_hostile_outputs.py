"""Issue 15, the outputs: `report --out`, `plot --out` and `data preview --out` never leave a fragment.

A full disk is simulated by making the atomic writer's rename fail, as a
failed write of the temporary file would: the previous output must be left
whole, and the command must fail in one line with exit 2.
"""

from __future__ import annotations

import errno

import fakes
import pytest
from click.testing import CliRunner
from fakestore import fill_store

from fsfer_bench import files
from fsfer_bench.cli import main
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL


@pytest.fixture
def store_root(tmp_path):
    root = tmp_path / "results"
    fill_store(root, {"protonet": 62.0, "relation_net": 50.0}, classes=BASIC_WITH_NEUTRAL)
    return root


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, phrase: str) -> None:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and phrase in errors[0], result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_report_out_on_a_full_disk_keeps_the_previous_table(store_root, tmp_path, monkeypatch):
    table = tmp_path / "table.md"
    assert invoke("report", "--results", store_root, "--out", table).exit_code == 0
    before = table.read_bytes()
    monkeypatch.setattr(files.os, "replace", _no_space)
    refused(invoke("report", "--results", store_root, "--out", table), "No space left on device")
    assert table.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


@pytest.mark.parametrize(("kind", "ext", "shot"), [("shots", "png", ()), ("histogram", "pdf", ("--shot", "1"))])
def test_plot_out_on_a_full_disk_keeps_the_previous_figure(store_root, tmp_path, monkeypatch, kind, ext, shot):
    figure = tmp_path / f"f.{ext}"
    args = ("plot", kind, "--results", store_root, "--split", "Fake_C", *shot, "--out", figure)
    assert invoke(*args).exit_code == 0
    before = figure.read_bytes()
    monkeypatch.setattr(files.os, "replace", _no_space)
    refused(invoke(*args), "No space left on device")
    assert figure.read_bytes() == before


def test_plot_to_an_unwritable_place_is_one_line(store_root, tmp_path):
    (tmp_path / "a-file").write_text("x")
    result = invoke("plot", "shots", "--results", store_root, "--split", "Fake_C", "--out", tmp_path / "a-file/f.png")
    refused(result, "cannot write")


def test_preview_out_is_written_atomically(tmp_path, monkeypatch):
    fakes.class_folders(tmp_path / "mine", {"happy": 2, "sad": 2})
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"previous")
    monkeypatch.setattr(files.os, "replace", _no_space)
    args = ("data", "preview", "mine", "--data-path", f"mine={tmp_path / 'mine'}", "--out", sheet, "--image-size", 16)
    refused(invoke(*args), "No space left on device")
    assert sheet.read_bytes() == b"previous"


def _no_space(src: str, dst: str) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")
