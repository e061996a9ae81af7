"""FER2013: the pixel-string CSV and the image-folder export."""

from __future__ import annotations

import json

import fakes
import numpy as np
import pytest
from click.testing import CliRunner

from fsfer_bench.cli import main
from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError, FsferWarning


def load(root, **kw):
    return load_dataset("FER2013", fakes.sources(root), fakes.options(**kw))


def test_csv_rows_become_images_with_usage_in_files(tmp_path):
    fakes.fer2013_csv(tmp_path)
    d = load(tmp_path, image_size=48)
    assert d.class_counts() == {c: 2 for c in ("neutral", "happy", "sad", "fearful", "angry", "surprised", "disgusted")}
    assert d.files[0] == "fer2013.csv:2:PublicTest" and d.classes[d.labels[0]] == "angry"
    assert set(d.domains) == {"wild"} and not d.has_subjects
    row = (tmp_path / "FER2013" / "fer2013.csv").read_text().splitlines()[1]
    first = np.array(row.split(",")[1].split(), dtype=np.uint8).reshape(48, 48)
    assert np.array_equal(d.images[0, :, :, 0], first)


def test_garbled_rows_are_skipped(tmp_path):
    folder = fakes.fer2013_csv(tmp_path)
    with open(folder / "fer2013.csv", "a") as f:
        f.write("3,1 2 3,Training\n9," + " ".join(["0"] * 2304) + ",Training\n2,a b c d,Training\n")
    with pytest.warns(FsferWarning) as caught:
        assert len(load(tmp_path)) == 14
    text = " ".join(str(w.message) for w in caught)
    assert "3 pixel values" in text and "outside 0..6" in text and "other than numbers" in text
    with pytest.raises(DataError):
        load(tmp_path, strict=True)


def test_csv_without_pixels_column_is_not_fer2013(tmp_path):
    folder = fakes.fer2013_csv(tmp_path)
    (folder / "fer2013.csv").write_text("emotion,Usage\n1,Training\n")
    with pytest.raises(DataError, match="does not hold the FER2013 layout"):
        load(tmp_path)


def test_image_folder_export(tmp_path):
    fakes.fer2013_folders(tmp_path)
    d = load(tmp_path)
    assert len(d) == 28 and len(d.classes) == 7
    assert "train/angry/train_angry_0.jpg" in d.files and "test/surprise/test_surprise_1.jpg" in d.files


def test_folder_holding_sfew_is_named(tmp_path):
    fakes.sfew(tmp_path)
    (tmp_path / "SFEW").rename(tmp_path / "FER2013")
    with pytest.raises(DataError, match="it looks like SFEW"):
        load(tmp_path)


@pytest.mark.shared_data
@pytest.mark.slow
def test_shared_fer2013_export_checks_clean(shared_data):
    """The shared training partition: 28,709 images; byte-identical images under other labels warn, not fail."""
    result = CliRunner().invoke(main, ["data", "check", "FER2013", "--data-root", str(shared_data), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["images"] == 28709 and report["class_counts"]["disgusted"] == 436
    assert not report["fatal"]
    kinds = {f["kind"]: f["severity"] for f in report["findings"]}
    assert kinds["duplicates with conflicting labels"] == "warning"
