"""`data check`: counts, unreadable files, duplicates, label problems, episode shapes, and the text report."""

from __future__ import annotations

import fakes
import numpy as np
import pytest

from fsfer_bench.data.check import FATAL, WARNING, check_dataset
from fsfer_bench.data.dataset import make_dataset
from fsfer_bench.data.loading import DataSources
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.registry import register_dataset
from fsfer_bench.errors import DataError
from fsfer_bench.plugins import scratch_registries


def check(folder, strict=False, **kw):
    return check_dataset("folder", fakes.sources(None, folder=str(folder)), LoadOptions(strict=strict), **kw)


def kinds(report, severity=None):
    return {f.kind for f in report.findings if severity is None or f.severity == severity}


def test_clean_dataset_counts(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 3, "sad": 2})
    report = check(folder)
    assert report.class_counts == {"happy": 3, "sad": 2} and report.images == 5
    assert report.findings == [] and not report.fatal
    assert report.modes == {"RGB": 5} and report.sizes == {"24x24": 5}


def test_unreadable_duplicates_and_conflicts(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 3, "sad": 2})
    fakes.truncate(folder / "happy" / "2.png")
    (folder / "happy" / "copy.png").write_bytes((folder / "happy" / "0.png").read_bytes())
    (folder / "sad" / "other.png").write_bytes((folder / "happy" / "1.png").read_bytes())
    report = check(folder)
    assert kinds(report, WARNING) == {
        "unreadable or truncated files",
        "byte-identical duplicates",
        "duplicates with conflicting labels",
    }
    assert not report.fatal and report.class_counts == {"happy": 3, "sad": 3}
    text = report.format()
    assert "happy/2.png" in text and "happy/0.png (happy) = happy/copy.png (happy)" in text
    assert "happy/1.png (happy) = sad/other.png (sad)" in text
    strict = check(folder, strict=True)
    assert kinds(strict, FATAL) == {"unreadable or truncated files", "duplicates with conflicting labels"}


def test_label_problems(tmp_path):
    folder = fakes.rafdb(tmp_path, parts=("basic",))
    with open(folder / "basic/EmoLabel/list_patition_label.txt", "a") as f:
        f.write("train_00100.jpg 0\n")
    report = check_dataset("RAF-DB", fakes.sources(tmp_path))
    assert kinds(report) == {"label out of range"} and not report.fatal
    assert "basic/EmoLabel/list_patition_label.txt:15: label 0 is outside 1..7" in report.format()


def test_unknown_labels_are_fatal(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 2, "Glee": 1})
    report = check(folder)
    assert kinds(report, FATAL) == {"unknown label"} and report.fatal and report.class_counts == {"happy": 2}


def test_empty_class_warns(tmp_path):
    folder = fakes.cfee(tmp_path)
    report = check_dataset("CFEE", fakes.sources(tmp_path))
    assert kinds(report) == {"empty class"} and not report.fatal
    assert set(report.class_counts) == {"neutral", "happy", "happily_surprised", "appalled"}
    assert report.subject_counts == {"100": 4, "101": 4} and folder == report.folder


def test_episode_shapes(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 6, "sad": 6, "angry": 3})
    assert not check(folder, way=2, shot=1, query=2).fatal
    small = check(folder, way=2, shot=1, query=4)
    assert kinds(small, FATAL) == {"class too small"} and "class 'angry' has 3 image(s)" in small.format()
    few = check(folder, way=3, shot=1, query=4)
    assert kinds(few, FATAL) == {"class too small", "too few classes"}


def test_subject_disjoint_episodes_that_cannot_be_drawn(tmp_path):
    rows = [[f"{c}/{s}_{k}.png", c, s] for c in ("happy", "sad", "angry") for s in ("A", "B") for k in range(4)]
    folder = fakes.manifest(tmp_path / "m", rows)
    # 8 images per class, but 4 per person: 5 queries never come from people outside the support
    report = check_dataset("manifest", fakes.sources(None, manifest=str(folder)), way=3, shot=1, query=5)
    assert kinds(report, FATAL) == {"episodes cannot be drawn"}
    assert not check_dataset("manifest", fakes.sources(None, manifest=str(folder)), way=2, shot=1, query=4).fatal


def test_unreadable_dataset_raises(tmp_path):
    with pytest.raises(DataError, match="not found"):
        check_dataset("CFEE", DataSources(tmp_path))


def test_dataset_without_files_gets_counts():
    def load(_folder, _options):
        labels = ["happy"] * 3 + ["sad"] * 2
        return make_dataset("mem", np.zeros((5, 4, 4, 3), np.uint8), labels, subjects=list("abcab"))

    with scratch_registries():
        register_dataset("mem", layout="in memory", source="nowhere", needs_files=False)(load)
        report = check_dataset("mem", DataSources(None), way=2, shot=1, query=1)
    assert report.class_counts == {"happy": 3, "sad": 2} and report.class_subjects == {"happy": 3, "sad": 2}
    assert not report.fatal and "mem: 5 images, 2 classes, 3 subjects" in report.format()


@pytest.mark.shared_data
def test_shared_cfee_report(shared_data):
    report = check_dataset("CFEE", DataSources(shared_data), way=5, shot=5, query=15)
    assert report.images == 1165 and len(report.subject_counts) == 108 and not report.fatal
    assert [f.kind for f in report.findings] == ["duplicates with conflicting labels"]
    text = report.format()
    assert "images/1068.jpg (sadly_angry) = images/1174.jpg (angrily_disgusted)" in text
    assert "sadly_surprised            37        37" in text and "result: OK (0 fatal, 1 warning(s))" in text
