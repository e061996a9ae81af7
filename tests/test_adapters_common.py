"""What all adapters share: layout detection, cache keys, missing-dataset messages, decoding jobs."""

from __future__ import annotations

import os
import shutil

import fakes
import numpy as np
import pytest
from PIL import Image

from fsfer_bench.data.adapters.api import read_csv, read_text
from fsfer_bench.data.adapters.building import cache_key
from fsfer_bench.data.images import DecodeJob, decode_files
from fsfer_bench.data.loading import DataSources, detect_layout, load_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.paths import OUTSIDE, UnsafePathError, resolve_inside
from fsfer_bench.errors import DataError
from fsfer_bench.registry import dataset_names, get_dataset

LAYOUTS = {
    "CFEE": fakes.cfee,
    "RAF-DB": lambda root: fakes.rafdb(root, parts=("basic",)),
    "CKplus": fakes.ck48,
    "JAFFE": fakes.jaffe,
    "FER2013": fakes.fer2013_csv,
    "SFEW": fakes.sfew,
    "AffectNet": fakes.affectnet,
    "miniImageNet": fakes.miniimagenet,
    "manifest": fakes.emotionet,
    "folder": lambda root: fakes.class_folders(root / "mine", {"happy": 1, "sad": 1}),
}


@pytest.mark.parametrize("expected", list(LAYOUTS))
def test_each_layout_is_recognised_as_itself_only(tmp_path, expected):
    folder = LAYOUTS[expected](tmp_path)
    assert detect_layout(folder).name == expected
    specific = [n for n in dataset_names() if get_dataset(n).needs_files and not get_dataset(n).generic]
    claims = [n for n in specific if get_dataset(n).looks_like(folder)]
    assert claims == ([] if get_dataset(expected).generic else [expected])


def test_fer2013_export_is_not_sfew_and_back(tmp_path):
    assert detect_layout(fakes.fer2013_folders(tmp_path / "a")).name == "FER2013"
    assert detect_layout(fakes.sfew(tmp_path / "b")).name == "SFEW"


def test_every_file_adapter_says_where_to_get_it():
    for name in dataset_names():
        adapter = get_dataset(name)
        if adapter.needs_files:
            assert adapter.looks_like is not None and adapter.scan is not None, name
            assert len(adapter.layout) > 20 and len(adapter.source) > 20, name


def test_missing_dataset_names_folder_layout_and_source(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("RAF-DB", DataSources(tmp_path))
    message = str(err.value)
    assert f"{tmp_path}/RAF-DB" in message
    assert "list_patition_label.txt" in message and "whdeng.cn" in message


def test_a_folder_holding_another_layout_is_named(tmp_path):
    fakes.ck48(tmp_path)
    os.rename(tmp_path / "CKplus48", tmp_path / "JAFFE")
    with pytest.raises(DataError, match=r"does not hold the JAFFE layout .* it looks like CKplus"):
        load_dataset("JAFFE", DataSources(tmp_path))


def test_an_unknown_name_with_a_path_is_read_by_its_layout(tmp_path):
    folder = fakes.ck48(tmp_path)
    d = load_dataset("MyCK", DataSources(None, {"MyCK": str(folder)}), fakes.options())
    assert d.name == "MyCK" and set(d.sources) == {"MyCK"}
    assert d.has_subjects and d.classes == ("happy", "angry", "surprised")
    mine = fakes.class_folders(tmp_path / "mine", {"Glee": 2, "sad": 2})
    d = load_dataset("Mine", DataSources(None, {"Mine": str(mine)}), fakes.options(label_map={"Glee": "happy"}))
    assert d.name == "Mine" and d.class_counts() == {"happy": 2, "sad": 2}


def test_an_unknown_name_with_an_unreadable_folder_lists_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no layout .*CFEE: images/NNNN.jpg"):
        load_dataset("X", DataSources(None, {"X": str(tmp_path / "empty")}))


def test_second_load_is_cached_and_memory_mapped(tmp_path):
    fakes.cfee(tmp_path)
    first = load_dataset("CFEE", fakes.sources(tmp_path), fakes.options())
    second = load_dataset("CFEE", fakes.sources(tmp_path), fakes.options())
    assert isinstance(second.images, np.memmap)
    assert np.array_equal(first.images, second.images) and first.content_id() == second.content_id()


def test_cache_key_follows_files_labels_and_options(tmp_path):
    folder = fakes.cfee(tmp_path)
    scan = get_dataset("CFEE").scan
    base = cache_key(scan(folder, LoadOptions()), LoadOptions())
    assert cache_key(scan(folder, LoadOptions()), LoadOptions()) == base
    assert cache_key(scan(folder, LoadOptions()), LoadOptions(image_size=32)) != base
    assert cache_key(scan(folder, LoadOptions()), LoadOptions(face_align=True)) != base
    os.utime(folder / "images" / "0001.jpg", ns=(1, 1))  # an edited file is decoded again
    touched = cache_key(scan(folder, LoadOptions()), LoadOptions())
    assert touched != base
    labels = (folder / "label.csv").read_text().replace("0001,100,1,", "0001,100,2,")
    (folder / "label.csv").write_text(labels)
    assert cache_key(scan(folder, LoadOptions()), LoadOptions()) not in (base, touched)


def test_same_data_elsewhere_gets_the_same_episodes(tmp_path):
    from fsfer_bench.episodes import EpisodeSpec, sample_episodes

    folder = fakes.cfee(tmp_path / "a")
    shutil.copytree(folder, tmp_path / "b" / "CFEE")
    a = load_dataset("CFEE", fakes.sources(tmp_path / "a"), fakes.options())
    b = load_dataset("CFEE", fakes.sources(tmp_path / "b"), fakes.options())
    spec = EpisodeSpec(way=2, shot=1, query=1, episodes=3, subject_disjoint=False)
    assert a.content_id() == b.content_id()
    assert sample_episodes(a, spec).hash == sample_episodes(b, spec).hash


def test_resolve_inside_refuses_escapes(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_inside(tmp_path, "a/b.png") == tmp_path / "a" / "b.png"
    assert resolve_inside(tmp_path, "a/../b.png") == tmp_path / "b.png"
    assert resolve_inside(tmp_path, str(tmp_path / "c.png")) == tmp_path / "c.png"
    for escape in ("../b.png", "a/../../b.png", "/etc/passwd", ".", ""):
        with pytest.raises(UnsafePathError) as caught:
            resolve_inside(tmp_path, escape)
        assert caught.value.kind == OUTSIDE


def test_relative_box_and_in_memory_pixels(tmp_path):
    a = np.zeros((40, 80, 3), np.uint8)
    a[10:30, 40:60] = 255  # the box (0.5, 0.25, 0.25, 0.5) of the frame
    Image.fromarray(a).save(tmp_path / "f.png")
    job = DecodeJob(str(tmp_path / "f.png"), 8, (0.5, 0.25, 0.25, 0.5), relative=True)
    images, kept = decode_files([job, DecodeJob("grid:1", 8, pixels=np.full((4, 4), 7, np.uint8))])
    assert kept.tolist() == [0, 1]
    assert images[0].min() > 200 and np.all(images[1] == 7)


LABEL_READERS = {"read_text": read_text, "read_csv": lambda path: read_csv(path, ["label"], [])}


@pytest.mark.parametrize("reader", LABEL_READERS.values(), ids=LABEL_READERS.keys())
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "label file .*labels.csv is missing"),
        (b"label\n\xff\xfe\xfa\n", "label file .*labels.csv is garbled: not UTF-8 text"),
        ("dir", "cannot read label file"),
    ],
    ids=["missing", "not-utf8", "directory"],
)
def test_label_readers_name_the_file_and_the_problem(tmp_path, reader, content, message):
    path = tmp_path / "labels.csv"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        reader(path)


def test_a_csv_error_names_the_label_file(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("label\n" + "x" * 200_000 + "\n")  # over the csv module's field size limit
    with pytest.raises(DataError, match="label file .*labels.csv is garbled: field larger than field limit"):
        read_csv(path, ["label"], [])
