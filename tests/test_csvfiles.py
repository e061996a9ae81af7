"""A stray quote in a CSV label file: the rows it swallows are counted and its line named, by `data check` (an
error), by a load (one warning) and by `--strict` (a failure); a file without one says nothing."""

from __future__ import annotations

import csv
import io
import json
import warnings

import fakes
import pytest
from click.testing import CliRunner

from fsfer_bench.cli import main
from fsfer_bench.data.check import check_dataset
from fsfer_bench.data.csvfiles import SWALLOWED_ROWS, CountedRows
from fsfer_bench.data.loading import load_dataset
from fsfer_bench.errors import DataError, FsferWarning

ROWS = 40
CLASSES = ("happy", "sad", "surprised", "angry")


def _manifest(tmp_path):
    rows = [[f"img/{k:03d}.png", CLASSES[k % 4], f"p{k % 10}"] for k in range(ROWS)]
    return fakes.manifest(tmp_path / "Mine", rows)


def _stray_quote(path, line: int) -> None:
    """Put a `"` at the start of physical line `line` (1 = the header), as a careless edit leaves it."""
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = '"' + lines[line - 1]
    path.write_text("".join(lines))


def _check(name, root, **paths):
    return check_dataset(name, fakes.sources(root, **paths), fakes.options())


def test_a_clean_file_has_no_divergence():
    rows = CountedRows(csv.reader(io.StringIO("a,b\n1,2\n\n3,4\n")))
    assert [line for line, _ in rows] == [1, 2, 3, 4] and rows.divergence is None


def test_a_quoted_field_over_lines_names_its_first_line_and_the_rows_lost():
    reader = csv.reader(io.StringIO('a,b\nx,1\n"y,2\nz,3\nw",4\nq,5\n'))
    next(reader)  # the header, as the adapters read it first
    rows = CountedRows(reader)
    assert [line for line, _ in rows] == [2, 3, 6]
    assert (rows.divergence.first_line, rows.divergence.last_line, rows.divergence.lost) == (3, 5, 2)


def test_data_check_calls_a_swallowing_quote_in_a_manifest_an_error(tmp_path):
    folder = _manifest(tmp_path)
    _stray_quote(folder / "manifest.csv", 30)  # never closed: lines 30-41 become one row
    report = _check("Mine", tmp_path, Mine=str(folder))
    [finding] = [f for f in report.findings if f.kind == SWALLOWED_ROWS]
    assert finding.severity == "fatal" and report.fatal
    assert "manifest.csv:30: 11 rows lost" in finding.message and "line 41" in finding.message


def test_a_load_warns_once_with_the_rows_lost_and_strict_fails(tmp_path):
    folder = _manifest(tmp_path)
    _stray_quote(folder / "manifest.csv", 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_dataset("Mine", fakes.sources(tmp_path, Mine=str(folder)), fakes.options())
    swallowed = [str(w.message) for w in caught if issubclass(w.category, FsferWarning) and SWALLOWED_ROWS in str(w)]
    assert len(swallowed) == 1 and "manifest.csv:30: 11 rows lost" in swallowed[0]
    with pytest.raises(DataError, match="manifest.csv:30: 11 row"):
        load_dataset("Mine", fakes.sources(tmp_path, Mine=str(folder)), fakes.options(strict=True))


def test_a_stray_quote_in_cfee_label_csv_is_an_error_in_data_check(tmp_path):
    folder = fakes.cfee(tmp_path, per_class=5)  # 20 rows
    label_csv = folder / "label.csv"
    lines = label_csv.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace(",", ',"', 1)  # line 7: a quote opening its identity field
    lines[12] = lines[12].replace(",", '",', 1)  # ... closed on line 13
    label_csv.write_text("".join(lines))
    result = CliRunner().invoke(main, ["data", "check", "CFEE", "--data-root", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1, result.output
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == SWALLOWED_ROWS]
    assert finding["severity"] == "fatal" and "label.csv:7: 6 rows lost" in finding["message"]


def test_a_clean_cfee_label_csv_says_nothing_of_it(tmp_path):
    fakes.cfee(tmp_path, per_class=5)
    report = check_dataset("CFEE", fakes.sources(tmp_path), fakes.options())
    assert not [f for f in report.findings if f.kind == SWALLOWED_ROWS] and not report.fatal
