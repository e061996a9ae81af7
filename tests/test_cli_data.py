"""`fsfer-bench data check|preview` and the shared data-loading options."""

from __future__ import annotations

import sys
import types

import click
import fakes
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fsfer_bench.cli import main
from fsfer_bench.cli.options import data_options, image_options, label_options, load_options_from, sources_from
from fsfer_bench.data.options import LoadOptions


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_check_prints_the_table_and_exits_zero(tmp_path):
    fakes.cfee(tmp_path)
    result = invoke("data", "check", "CFEE", "--data-root", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "CFEE: 8 images, 4 classes, 2 subjects" in result.stdout
    assert "happily_surprised       2         2" in result.stdout and "result: OK" in result.stdout


def test_check_exits_one_on_fatal_problems(tmp_path):
    fakes.cfee(tmp_path)
    result = invoke("data", "check", "CFEE", "--data-root", str(tmp_path), "--way", "5", "--shot", "1", "--query", "1")
    assert result.exit_code == 1 and "too few classes" in result.stdout and "result: FAILED" in result.stdout


def test_check_strict_and_json(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 2, "sad": 2})
    fakes.truncate(folder / "sad" / "0.png")
    args = ["data", "check", "mine", "--data-path", f"mine={folder}", "--format", "json"]
    relaxed = invoke(*args)
    assert relaxed.exit_code == 0 and '"fatal": false' in relaxed.stdout and "sad/0.png" in relaxed.stdout
    assert invoke(*args, "--strict").exit_code == 1


def test_check_label_map(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"Glee": 2, "sad": 2})
    assert invoke("data", "check", "x", "--data-path", f"x={folder}").exit_code == 1
    result = invoke("data", "check", "x", "--data-path", f"x={folder}", "--label-map", "Glee=happy")
    assert result.exit_code == 0 and "happy" in result.stdout


def test_missing_dataset_is_one_line_and_exit_two(tmp_path):
    result = invoke("data", "check", "SFEW", "--data-root", str(tmp_path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: dataset SFEW not found: expected")
    assert "Train|Val/<Class>/*.png" in lines[0] and "cs.anu.edu.au" in lines[0]


@pytest.mark.parametrize(("flag", "value"), [("--data-path", "nopath"), ("--label-map", "happy")])
def test_malformed_options_are_usage_errors(tmp_path, flag, value):
    result = invoke("data", "check", "CFEE", flag, value)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"Invalid value for '{flag}': malformed {flag}" in result.output and f"'{value}'" in result.output


def test_unknown_dataset_name_lists_the_valid_ones(tmp_path):
    result = invoke("data", "check", "CFE", "--data-root", str(tmp_path))
    assert result.exit_code == 2 and "did you mean 'CFEE'" in result.stderr


@pytest.fixture
def fake_preview(monkeypatch):
    """A stand-in for fsfer_bench.data.preview, so the command is tested on its own."""
    seen = {}

    def contact_sheet(dataset):
        seen["dataset"] = dataset
        return Image.fromarray(np.concatenate(list(dataset.images[:4]), axis=1))

    monkeypatch.setitem(sys.modules, "fsfer_bench.data.preview", types.SimpleNamespace(contact_sheet=contact_sheet))
    return seen


def test_preview_writes_the_sheet(tmp_path, fake_preview):
    fakes.jaffe(tmp_path)
    out = tmp_path / "grid.png"
    result = invoke("data", "preview", "JAFFE", "--out", str(out), "--data-root", str(tmp_path), "--image-size", "20")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (80, 20) and fake_preview["dataset"].image_size == 20
    assert "14 images of JAFFE" in result.stdout


def test_preview_unwritable_out(tmp_path, fake_preview):
    fakes.jaffe(tmp_path)
    result = invoke("data", "preview", "JAFFE", "--out", str(tmp_path / "no" / "g.png"), "--data-root", str(tmp_path))
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot write")


def test_preview_with_the_real_contact_sheet(tmp_path):
    pytest.importorskip("fsfer_bench.data.preview")
    fakes.jaffe(tmp_path)
    out = tmp_path / "grid.png"
    assert invoke("data", "preview", "JAFFE", "--out", str(out), "--data-root", str(tmp_path)).exit_code == 0
    assert Image.open(out).size[0] > 0


def test_shared_options_for_other_commands(tmp_path):
    @click.command()
    @data_options
    @image_options
    @label_options
    def cmd(**options):
        click.echo(repr((sources_from(**options), load_options_from(**options))))

    result = CliRunner().invoke(cmd, ["--data-root", str(tmp_path), "--data-path", "A=/a", "--face-align",
                                      "--align-margin", "0.2", "--label-map", "Joy=happy", "--strict"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"root=PosixPath('{tmp_path}'), paths={{'A': '/a'}}" in result.stdout
    expected = LoadOptions(face_align=True, align_margin=0.2, label_map={"Joy": "happy"}, strict=True)
    assert repr(expected) in result.stdout
    assert load_options_from() == LoadOptions() and load_options_from(image_size=32).image_size == 32
