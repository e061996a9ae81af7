"""Issue 15, the data layer: hostile label files and dataset folders give one clear line, never a hang.

Each test reproduces an attack of the issue: a label file pointing outside the
dataset, a FIFO or /dev/zero where an image or label file should be, an oversized
file, a file name that is not UTF-8, an inconsistent cache entry, a missing column.
"""

from __future__ import annotations

import json
import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fakes
import numpy as np
import pytest

from fsfer_bench.data import cache
from fsfer_bench.data.adapters.api import read_text
from fsfer_bench.data.check import check_dataset
from fsfer_bench.data.loading import load_dataset
from fsfer_bench.data.paths import MAX_IMAGE_BYTES, UnsafePathError, read_capped
from fsfer_bench.errors import DataError, FsferWarning

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks (POSIX)")


@contextmanager
def deadline(seconds: int = 20) -> Iterator[None]:
    """Fail, instead of hanging the suite, if the body blocks (on a FIFO, say)."""

    def expired(*_: object) -> None:
        raise AssertionError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def load(root: Path, name: str = "CFEE", **options: object):
    return load_dataset(name, fakes.sources(root), fakes.options(**options))


def check(root: Path, name: str = "CFEE"):
    return check_dataset(name, fakes.sources(root), fakes.options(), workers=1)


def findings(report) -> dict[str, str]:
    return {f.kind: f"{f.severity} {f.message}" for f in report.findings}


def set_cfee_index(folder: Path, row: int, index: str) -> None:
    lines = (folder / "label.csv").read_text().splitlines()
    cells = lines[row].split(",")
    lines[row] = ",".join([index, *cells[1:]])
    (folder / "label.csv").write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- path traversal


def test_cfee_index_leaving_the_folder_is_refused_by_load_and_check(tmp_path):
    folder = fakes.cfee(tmp_path / "data")
    fakes.image(tmp_path / "elsewhere" / "evil.jpg", (64, 48))
    set_cfee_index(folder, 2, "../../elsewhere/evil")
    with pytest.raises(DataError, match=r"label.csv:3: '../../elsewhere/evil.jpg' leaves .*refused"):
        load(tmp_path / "data")
    report = check(tmp_path / "data")
    assert report.fatal and "label.csv:3" in findings(report)["path outside the dataset folder"]
    assert report.images == 7  # the evil image was never read


@pytest.mark.parametrize("escape", ["../evil.jpg", "ABSOLUTE"])
def test_miniimagenet_file_names_leaving_the_folder_are_refused(tmp_path, escape):
    folder = fakes.miniimagenet(tmp_path / "data")
    evil = fakes.image(tmp_path / "data" / "miniImageNet" / "evil.jpg")
    escape = str(evil.parent.parent / "x.jpg") if escape == "ABSOLUTE" else escape
    with open(folder / "train.csv", "a") as f:
        f.write(f"{escape},n01\n")
    with pytest.raises(DataError, match="train.csv:.* leaves .*refused"):
        load(tmp_path / "data", "miniImageNet")


def test_rafdb_names_leaving_the_folder_are_refused(tmp_path):
    folder = fakes.rafdb(tmp_path, parts=("basic",))
    label_file = folder / "basic" / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text(label_file.read_text() + "../../../../../etc/passwd.jpg 1\n")
    with pytest.raises(DataError, match="list_patition_label.txt:.* leaves .*refused"):
        load(tmp_path, "RAF-DB")


def test_a_symlink_leading_out_of_a_class_folder_is_refused(tmp_path):
    folder = fakes.class_folders(tmp_path / "mine", {"happy": 3, "sad": 3})
    secret = fakes.image(tmp_path / "secret.png")
    (folder / "happy" / "link.png").symlink_to(secret)
    with pytest.raises(DataError, match="happy/link.png.* leaves .*refused"):
        load_dataset("folder", fakes.sources(None, folder=str(folder)), fakes.options())


# ---------------------------------------------------------------- FIFOs, devices, size


def test_a_fifo_image_is_skipped_with_a_named_warning_and_never_opened(tmp_path):
    folder = fakes.cfee(tmp_path)
    (folder / "images" / "0002.jpg").unlink()
    os.mkfifo(folder / "images" / "0002.jpg")
    with deadline(), pytest.warns(FsferWarning, match="not a regular file.*0002.jpg.*named pipe"):
        dataset = load(tmp_path)
    assert len(dataset) == 7
    with deadline():
        report = check(tmp_path)
    assert "0002.jpg" in findings(report)["not a regular file"] and not report.fatal


def test_a_fifo_label_file_fails_in_one_line_without_blocking(tmp_path):
    folder = fakes.cfee(tmp_path)
    (folder / "label.csv").unlink()
    os.mkfifo(folder / "label.csv")
    with deadline(), pytest.raises(DataError, match="label.csv is a named pipe .*not a regular file"):
        load(tmp_path)
    with deadline(), pytest.raises(DataError, match="named pipe"):
        check(tmp_path)


def test_an_image_linked_to_dev_zero_is_never_read(tmp_path):
    folder = fakes.class_folders(tmp_path / "mine", {"happy": 3, "sad": 3})
    (folder / "happy" / "zero.png").symlink_to("/dev/zero")
    with deadline():
        report = check_dataset("folder", fakes.sources(None, folder=str(folder)), fakes.options(), workers=1)
    # /dev/zero is not a regular file: `image_files` never lists it, so nothing reads it
    assert report.images == 6
    with pytest.raises(UnsafePathError, match="not a regular file"):
        read_capped(folder / "happy" / "zero.png")


def test_an_oversized_image_is_skipped_by_load_and_check(tmp_path):
    folder = fakes.cfee(tmp_path)
    with open(folder / "images" / "0003.jpg", "wb") as f:  # sparse: no disk used
        f.truncate(MAX_IMAGE_BYTES + 1)
    with pytest.warns(FsferWarning, match="file too large.*0003.jpg.*over the 64 MiB"):
        assert len(load(tmp_path)) == 7
    assert "0003.jpg" in findings(check(tmp_path))["file too large"]


def test_label_files_are_read_only_when_regular_and_small(tmp_path):
    (tmp_path / "big.txt").write_bytes(b"")
    os.truncate(tmp_path / "big.txt", 65 * 2**20)
    with pytest.raises(DataError, match="over the 64 MiB"):
        read_text(tmp_path / "big.txt")


# ---------------------------------------------------------------- names, columns, cache


def test_a_file_name_that_is_not_utf8_is_named_by_check_and_load(tmp_path):
    folder = fakes.class_folders(tmp_path / "mine", {"happy": 3, "sad": 3})
    bad = os.path.join(os.fsencode(folder / "happy"), b"caf\xe9.png")
    fakes.noise("x").save(os.fsdecode(bad), format="PNG")
    sources = fakes.sources(None, folder=str(folder))
    report = check_dataset("folder", sources, fakes.options(), workers=1)
    assert "caf\\udce9.png" in findings(report)["file name not UTF-8"] and not report.fatal
    report.format().encode("utf-8")  # printable: `data check` writes it to stdout
    with pytest.warns(FsferWarning, match=r"file name not UTF-8.*caf\\udce9.png.*rename"):
        dataset = load_dataset("folder", sources, fakes.options())
    assert len(dataset) == 6


def test_a_label_csv_missing_emotion_idx_names_the_column(tmp_path):
    folder = fakes.cfee(tmp_path)
    text = (folder / "label.csv").read_text().replace("emotion_idx", "emotion")
    (folder / "label.csv").write_text(text)
    with pytest.raises(DataError, match="label.csv is garbled: it lacks the column.* emotion_idx"):
        load(tmp_path)
    with pytest.raises(DataError, match="lacks the column.* emotion_idx"):
        check(tmp_path)


def test_a_miniimagenet_csv_missing_label_names_the_column(tmp_path):
    folder = fakes.miniimagenet(tmp_path)
    (folder / "val.csv").write_text("filename,class\nx.jpg,n01\n")
    with pytest.raises(DataError, match="val.csv is garbled: it lacks the column.* label"):
        load(tmp_path, "miniImageNet")


def test_an_inconsistent_cache_entry_is_rebuilt_with_a_warning(tmp_path):
    fakes.cfee(tmp_path)
    first = load(tmp_path)
    entries = [p for p in cache.cache_root().iterdir() if p.name.startswith("CFEE-") and p.is_dir()
               and json.loads((p / "meta.json").read_text())["labels"] == first.labels.tolist()]  # fmt: skip
    entry = max(entries, key=lambda p: (p / "meta.json").stat().st_mtime)  # the one this load wrote
    meta = json.loads((entry / "meta.json").read_text())
    meta["labels"] = meta["labels"][:-1]  # one label short of the images
    (entry / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(FsferWarning, match="corrupt or incomplete; rebuilding"):
        again = load(tmp_path)
    assert np.array_equal(again.labels, first.labels) and len(again) == len(first)
    meta["labels"] = [99] * len(first)  # labels past the class list
    (entry / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(FsferWarning, match="rebuilding"):
        assert np.array_equal(load(tmp_path).labels, first.labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load(tmp_path)
    assert not [w for w in caught if "rebuilding" in str(w.message)]  # rebuilt for good


def test_preview_and_check_name_a_non_utf8_file_instead_of_failing(tmp_path):
    from click.testing import CliRunner

    from fsfer_bench.cli import main

    folder = fakes.class_folders(tmp_path / "mine", {"happy": 2, "sad": 2})
    fakes.noise("x").save(os.fsdecode(os.path.join(os.fsencode(folder / "sad"), b"\xff.png")), format="PNG")
    given = ["--data-path", f"mine={folder}"]
    preview = CliRunner().invoke(main, ["data", "preview", "mine", *given, "--out", str(tmp_path / "p.png")])
    assert preview.exit_code == 0, preview.output
    assert "file name not UTF-8" in preview.stderr and "sad/\\udcff.png" in preview.stderr
    check = CliRunner().invoke(main, ["data", "check", "mine", *given])
    assert check.exit_code == 0 and "sad/\\udcff.png" in check.stdout, check.output
