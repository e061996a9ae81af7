"""Generic class folders, and the bad input every adapter meets through the shared decoding."""

from __future__ import annotations

import fakes
import numpy as np
import pytest
from PIL import Image

from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError, FsferWarning


def load(folder, **kw):
    return load_dataset("folder", fakes.sources(None, folder=str(folder)), fakes.options(**kw))


def test_class_names_go_through_the_vocabulary(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"Happiness": 2, "SA": 1, "anger": 1, "Happily Surprised": 1})
    d = load(folder)
    assert d.class_counts() == {"happy": 2, "sad": 1, "angry": 1, "happily_surprised": 1}
    assert set(d.domains) == {"unknown"} and "Happiness/0.png" in d.files


def test_unknown_names_need_a_label_map(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"Glee": 2, "sad": 1})
    with pytest.raises(DataError, match="unknown expression label 'Glee'; map it with --label-map 'Glee=<name>'"):
        load(folder)
    assert load(folder, label_map={"Glee": "happy"}).class_counts() == {"happy": 2, "sad": 1}


def test_an_empty_class_is_left_out_with_a_warning(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 2, "sad": 0})
    with pytest.warns(FsferWarning, match="no images of sad"):
        d = load(folder)
    assert d.classes == ("happy",)


def test_nested_and_hidden_files(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 1, "sad": 1})
    fakes.image(folder / "happy" / "subject7" / "a.png")
    fakes.image(folder / "happy" / ".hidden.png")
    (folder / "happy" / "notes.txt").write_text("not an image")
    assert load(folder).class_counts() == {"happy": 2, "sad": 1}


@pytest.mark.parametrize(
    ("mode", "ext"),
    [("P", "png"), ("I;16", "png"), ("CMYK", "jpg"), ("RGBA", "png"), ("LA", "png"), ("L", "tiff"), ("1", "bmp")],
)
def test_any_image_mode_becomes_rgb(tmp_path, mode, ext):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 2}, mode=mode, ext=ext)
    d = load(folder)
    assert d.images.shape == (2, 16, 16, 3) and d.images.dtype == np.uint8
    assert d.images.std() > 10  # not a blank conversion


def test_transparent_pixels_are_composited_on_white(tmp_path):
    folder = tmp_path / "d" / "happy"
    folder.mkdir(parents=True)
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(folder / "clear.png")
    assert load(tmp_path / "d").images.min() == 255


def test_sixteen_bit_range_is_scaled(tmp_path):
    folder = tmp_path / "d" / "happy"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(folder / "white16.png")
    assert load(tmp_path / "d").images.min() == 255


def test_corrupt_and_truncated_files_are_skipped_by_name_or_fail_strict(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 3, "sad": 2}, ext="jpg")
    fakes.truncate(folder / "happy" / "1.jpg")
    (folder / "sad" / "0.jpg").write_bytes(b"this is not a jpeg")
    with pytest.warns(FsferWarning, match=r"skipped 2 unreadable image\(s\): 1.jpg, 0.jpg"):
        d = load(folder)
    assert d.class_counts() == {"happy": 2, "sad": 1}
    with pytest.warns(FsferWarning, match="skipped 2 unreadable image.*happy/1.jpg"):
        load(folder)  # from the cache: still said
    with pytest.raises(DataError, match=r"unreadable image.*drop --strict"):
        load(folder, strict=True)


def test_duplicate_files_are_both_kept(tmp_path):
    folder = fakes.class_folders(tmp_path / "d", {"happy": 2, "sad": 1})
    (folder / "sad" / "copy.png").write_bytes((folder / "happy" / "0.png").read_bytes())
    d = load(folder)
    assert len(d) == 4 and np.array_equal(d.images[d.files.tolist().index("sad/copy.png")], d.images[0])


def test_nothing_readable(tmp_path):
    folder = tmp_path / "d" / "happy"
    folder.mkdir(parents=True)
    (folder / "x.png").write_bytes(b"junk")
    with pytest.warns(FsferWarning), pytest.raises(DataError, match="none of the 1 images"):
        load(tmp_path / "d")
