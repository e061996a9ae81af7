"""The data layer's minor defects of issue 26, one test each: special files in every layout alike, a folder with a
non-UTF-8 name, a data root that is a file, a swapped --label-map, thousands of identical files, odd image sizes."""

from __future__ import annotations

import csv
import io
import os
import shutil

import fakes
import pytest
from click.testing import CliRunner
from PIL import Image

from fsfer_bench.cli import main
from fsfer_bench.data.check import check_dataset
from fsfer_bench.data.loading import load_dataset
from fsfer_bench.data.paths import NOT_REGULAR
from fsfer_bench.data.vocabulary import canonical
from fsfer_bench.errors import DataError, FsferWarning

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and raw file names (POSIX)")


def _one_line_exit_2(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


# a FIFO where an image should be, in each layout: (dataset, make the layout, the FIFO's path inside it)
SPECIAL = {
    "CKplus": (fakes.ck48, "happy/S011_002_00000099.png"),
    "SFEW": (fakes.sfew, "Train/Happy/Happy_9.png"),
    "CFEE": (fakes.cfee, "images/0002.jpg"),
}


@pytest.mark.parametrize("name", SPECIAL)
def test_a_fifo_named_as_an_image_is_reported_alike_in_every_layout(tmp_path, name):
    make, inside = SPECIAL[name]
    folder = make(tmp_path)
    (folder / inside).unlink(missing_ok=True)
    os.mkfifo(folder / inside)
    report = check_dataset(name, fakes.sources(tmp_path), fakes.options())
    [finding] = [f for f in report.findings if f.kind == NOT_REGULAR]
    base = inside.rsplit("/", 1)[1]  # CFEE names it as label.csv gives it: relative to images/
    assert finding.severity == "warning" and base in finding.message and "FIFO" in finding.message
    with pytest.warns(FsferWarning, match=f"{NOT_REGULAR}.*{base}"):
        load_dataset(name, fakes.sources(tmp_path), fakes.options())


def test_a_data_root_under_a_non_utf8_folder_is_named_once(tmp_path):
    root = tmp_path / os.fsdecode(b"data\xff")
    fakes.ck48(tmp_path / "data").parent.rename(root)
    with pytest.raises(DataError, match=r"the folder .*data\\udcff has a name that is not valid UTF-8; rename it$"):
        load_dataset("CKplus", fakes.sources(root), fakes.options())


def test_a_non_utf8_file_name_still_blames_the_file(tmp_path):
    folder = fakes.sfew(tmp_path)
    shutil.copy(folder / "Train" / "Sad" / "Sad_0.png", folder / "Train" / "Sad" / os.fsdecode(b"Sad_\xff.png"))
    report = check_dataset("SFEW", fakes.sources(tmp_path), fakes.options())
    assert any("rename the file" in f.message for f in report.findings)


def test_fsfer_data_pointing_at_a_file_says_so(tmp_path, monkeypatch):
    a_file = tmp_path / "datasets.tar"
    a_file.write_bytes(b"not a folder")
    monkeypatch.setenv("FSFER_DATA", str(a_file))
    _one_line_exit_2(CliRunner().invoke(main, ["data", "check", "CFEE"]), f"data root {a_file}", "is not a folder")
    monkeypatch.setenv("FSFER_DATA", str(tmp_path / "missing"))
    _one_line_exit_2(CliRunner().invoke(main, ["data", "check", "CFEE"]), "does not exist")


def test_a_swapped_label_map_entry_suggests_the_swap(tmp_path):
    fakes.ck48(tmp_path)
    args = ["data", "check", "CKplus", "--data-root", str(tmp_path), "--label-map", "happy=joyful"]
    result = CliRunner().invoke(main, args)  # a bad flag value: click's usage error, as for every flag
    assert result.exit_code == 2 and "NATIVE=canonical: write 'joyful=happy'" in result.output
    with pytest.raises(DataError, match="write 'joyful=happy'"):  # a config file's [data] label_map
        canonical("happy", {"happy": "joyful"})
    with pytest.raises(DataError, match="map to one of: neutral"):
        canonical("Glee", {"Glee": "gleeful"})


def test_thousands_of_identical_files_are_summarised_and_listed_in_a_file(tmp_path):
    folder = fakes.class_folders(tmp_path / "Mine", {"happy": 1, "sad": 1})
    for k in range(2000):
        shutil.copy(folder / "happy" / "0.png", folder / "happy" / f"copy{k:04d}.png")
    listed = tmp_path / "duplicates.csv"
    args = ["data", "check", "Mine", "--data-path", f"Mine={folder}", "--list-duplicates", str(listed)]
    result = CliRunner().invoke(main, args)
    [line] = [x for x in result.output.splitlines() if "byte-identical duplicates" in x]
    assert len(line) < 400 and "2001 files" in line and "--list-duplicates" in line
    rows = list(csv.DictReader(io.StringIO(listed.read_text())))
    assert len(rows) == 2001 and {r["group"] for r in rows} == {"1"} and rows[0]["label"] == "happy"


def test_images_too_small_or_too_long_get_a_word_from_data_check(tmp_path):
    folder = fakes.class_folders(tmp_path / "Mine", {"happy": 2, "sad": 2})
    for size, name in (((1, 1), "tiny"), ((10000, 10), "wide"), ((10, 10000), "tall")):
        Image.new("L", size, 128).save(folder / "sad" / f"{name}.png")
    report = check_dataset("Mine", fakes.sources(tmp_path, Mine=str(folder)), fakes.options())
    [finding] = [f for f in report.findings if f.kind == "odd image sizes"]
    assert "3 image(s)" in finding.message and finding.severity == "warning"
    for name in ("sad/tiny.png (1x1)", "sad/wide.png (10000x10)", "sad/tall.png (10x10000)"):
        assert name in finding.message
    assert "happy/0.png" not in finding.message
