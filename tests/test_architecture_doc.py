"""docs/architecture.md: its "add a report column" recipe works as written."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from fakestore import record

from fsfer_bench.report.cells import Selection, make_cells, select_runs
from fsfer_bench.report.tables import FRAME_COLUMNS, build_table, to_csv
from fsfer_bench.results import Store, load

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _snippet(marker: str) -> str:
    match = re.search(rf"<!-- snippet: {re.escape(marker)} -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"no python block after <!-- snippet: {marker} --> in {DOC.name}"
    return match.group(1)


@pytest.fixture
def restore_columns():
    before = dict(FRAME_COLUMNS)
    yield
    FRAME_COLUMNS.clear()
    FRAME_COLUMNS.update(before)


def test_the_add_a_report_column_recipe_adds_the_column(tmp_path, restore_columns):
    store = Store(tmp_path)
    for seed, seconds in ((0, 12.5), (1, 7.5)):
        store.write(record("A", seed=seed, training={"seconds": seconds}))
    store.write(record("B", seed=0, training={}))
    store.write(record("B", seed=1, training={"seconds": 3.0}))
    exec(compile(_snippet("add-a-report-column"), str(DOC), "exec"), {})
    runs = select_runs(load(tmp_path), Selection(), tmp_path)
    frame = pd.read_csv(io.StringIO(to_csv(build_table(make_cells(runs))))).set_index("method")
    assert list(frame.columns)[-1] == "train_seconds"
    assert frame.loc["A", "train_seconds"] == pytest.approx(20.0) and frame.loc["B", "train_seconds"] == 3.0


def test_the_page_names_every_module_of_the_harness():
    modules = sorted(p.name for p in (DOC.parent.parent / "fsfer_bench").glob("*.py") if p.name != "__init__.py")
    text = DOC.read_text()
    assert [m for m in modules if m not in text] == []
