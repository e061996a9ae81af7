"""The atomic writer and the damage-naming reader every output goes through."""

import json
import os
import stat

import pytest

from fsfer_bench.files import DamagedFileError, read_json, umask_mode, write_json_atomic, write_text_atomic


def test_failed_write_keeps_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.tex"
    write_text_atomic(target, "old table")

    def explode(f):
        f.write(b"half a tab")
        raise OSError(28, "No space left on device")

    from fsfer_bench.files import write_atomic

    with pytest.raises(OSError):
        write_atomic(target, explode)
    assert target.read_text() == "old table"
    assert [p.name for p in tmp_path.iterdir()] == ["table.tex"]


def test_mode_follows_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "r.json", "{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 == umask_mode()
    finally:
        os.umask(old)


def test_json_is_strict(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"ci95": float("nan"), "xs": [1.0, float("inf")]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"ci95": None, "xs": [1.0, None]}


@pytest.mark.parametrize("content", [b'{"a": 1', b"\xff\xfe", b"[1, 2]"])
def test_damaged_json_names_the_file(tmp_path, content):
    path = tmp_path / "damaged.json"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError, match="damaged.json"):
        read_json(path)
