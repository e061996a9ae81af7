"""Plots: each kind renders to PNG and PDF, keeps its labels on the canvas, and computes the right numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakestore import QUERY, WAY, fill_store, record
from PIL import Image

from fsfer_bench.data.vocabulary import COMPOUND
from fsfer_bench.errors import ConfigError, FsferWarning, StoreError
from fsfer_bench.report.cells import Selection, make_cells, select_runs
from fsfer_bench.report.plots import (
    Confusion,
    confusion_figure,
    histogram_figure,
    lattice_bins,
    per_class_figure,
    pooled_confusion,
    save_figure,
    shots_figure,
)
from fsfer_bench.results import Store, load

LEVELS = {"protonet": 62.0, "matchingnet": 60.0, "relation_net": 55.0}


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    fill_store(root, LEVELS, splits=("Fake_C",), seeds=(0, 1))
    return root


def _cells(root, **selection):
    return make_cells(select_runs(load(root), Selection(**selection), root))


def _labels_inside(fig) -> bool:
    """Everything drawn (tick labels, titles, legends) lies on the canvas: no long class name is clipped."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes] + [lg.get_window_extent(renderer) for lg in fig.legends]
    canvas = fig.bbox
    return all(b.x0 >= canvas.x0 - 1 and b.x1 <= canvas.x1 + 1 and b.y0 >= canvas.y0 - 1 and b.y1 <= canvas.y1 + 1
               for b in boxes)  # fmt: skip


def _no_vertical_overlap(labels) -> bool:
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.y0)
    return all(lower.y1 <= upper.y0 + 0.5 for lower, upper in zip(boxes, boxes[1:]))


def _check_saved(fig, tmp_path, name, formats=("png", "pdf")):
    for fmt in formats:
        path = save_figure(fig, tmp_path / f"{name}.{fmt}")
        assert path.read_bytes()[:4] == {"png": b"\x89PNG", "pdf": b"%PDF"}[fmt]
    if "png" in formats:
        with Image.open(tmp_path / f"{name}.png") as image:
            assert min(image.size) > 300


def test_shots_plot_has_a_line_per_method(store_root, tmp_path):
    fig = shots_figure(_cells(store_root))
    ax = fig.axes[0]
    assert len(ax.containers) == len(LEVELS)  # one errorbar container per method
    assert [t.get_text() for t in fig.legends[0].get_texts()] == sorted(LEVELS)
    assert "seeds 0, 1 pooled" in ax.get_title()
    assert _labels_inside(fig)
    _check_saved(fig, tmp_path, "shots")


def test_per_class_plot_puts_the_hardest_class_on_top_with_readable_names(store_root, tmp_path):
    confusions = [pooled_confusion(c) for c in _cells(store_root, shots=(1,))]
    fig = per_class_figure(confusions)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "disgustedly surprised" in labels and len(labels) == len(COMPOUND)
    means = {name: np.nanmean([c.per_class[name] for c in confusions]) for name in COMPOUND}
    assert ax.yaxis_inverted()  # the first tick is drawn at the top
    assert means[labels[0].replace(" ", "_")] == min(means.values())
    assert means[labels[-1].replace(" ", "_")] == max(means.values())
    fig.canvas.draw()
    assert _no_vertical_overlap(ax.get_yticklabels()) and _labels_inside(fig)
    _check_saved(fig, tmp_path, "per_class")


def test_per_class_accuracy_is_the_diagonal_over_the_row(tmp_path):
    counts = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    c = Confusion("m", "s", 1, 3, ("a", "b", "c"), counts, (0,))
    assert c.per_class["a"] == pytest.approx(80.0) and c.per_class["b"] == pytest.approx(25.0)
    assert np.isnan(c.per_class["c"])  # never queried: no accuracy, not 0


def test_pooled_confusion_sums_the_seeds(store_root):
    cell = _cells(store_root, methods=("protonet",), shots=(5,))[0]
    pooled = pooled_confusion(cell)
    each = [np.array(json.loads(Path(p).read_text())["confusion"]) for p in cell.paths]
    assert pooled.seeds == (0, 1) and np.array_equal(pooled.counts, each[0] + each[1])


def test_confusion_plot_keeps_long_class_names_on_the_canvas(store_root, tmp_path):
    cell = _cells(store_root, methods=("relation_net",), shots=(1,))[0]
    fig = confusion_figure(pooled_confusion(cell))
    ax = fig.axes[0]
    assert ax.get_images()[0].get_array().shape == (len(COMPOUND), len(COMPOUND))
    assert _labels_inside(fig) and _no_vertical_overlap(ax.get_yticklabels())
    _check_saved(fig, tmp_path, "confusion", formats=("png",))  # PDF output is checked on the quicker plots


def test_old_record_without_confusion_is_named(tmp_path):
    old = record("A")
    del old["confusion"]
    Store(tmp_path).write(old)
    cell = _cells(tmp_path)[0]
    with pytest.warns(FsferWarning, match="without 'confusion'"), pytest.raises(StoreError, match="'confusion' field"):
        pooled_confusion(cell)


def test_histogram_bins_sit_on_the_accuracy_grid(store_root, tmp_path):
    cells = _cells(store_root, shots=(1,))
    all_acc = np.concatenate([c.accuracies for c in cells])
    edges = lattice_bins(all_acc, WAY * QUERY)
    grid = np.arange(0, WAY * QUERY + 1) * 100.0 / (WAY * QUERY)
    per_bin = np.histogram(grid, edges)[0]
    assert len(set(per_bin)) == 1  # every bin spans the same number of possible accuracies
    assert np.histogram(all_acc, edges)[0].sum() == len(all_acc)
    fig = histogram_figure(cells)
    assert len(fig.legends[0].get_texts()) == len(LEVELS) + 1  # methods and the chance line
    _check_saved(fig, tmp_path, "histogram")


def test_only_png_and_pdf_are_written(store_root, tmp_path):
    fig = shots_figure(_cells(store_root))
    with pytest.raises(ConfigError, match=r"\.png or \.pdf"):
        save_figure(fig, tmp_path / "figure.svg")
