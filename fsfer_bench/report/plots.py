"""Figures from stored records: accuracy vs shots, per-class accuracy, confusion matrix, episode histogram.

Each `*_figure` function returns a matplotlib `Figure` built without pyplot (no
global state, no display needed: the Agg canvas renders PNG, and matplotlib's
PDF backend renders .pdf); `save_figure` writes it, choosing the format from
the file's extension.

Several seeds of one method, split and shot are pooled, and each figure says
so: accuracies are concatenated over seeds, confusion counts are summed.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fsfer_bench.errors import ConfigError, FsferWarning, StoreError
from fsfer_bench.files import write_bytes_atomic
from fsfer_bench.record import Record
from fsfer_bench.report.cells import Cell

FORMATS = (".png", ".pdf")
CI_NOTE = "mean ± 95% Student-t CI over episodes"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: tab10, then ten colours of tab20b: 20 distinct ones, so a table's dozen methods never share one.
COLOURS = (*(f"C{i}" for i in range(10)), "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
           "#5254a3", "#8ca252", "#bd9e39", "#ad494a", "#a55194")  # fmt: skip


def check_figure_path(path: str | Path) -> Path:
    """`path` if its extension names a format we write (PNG or PDF), else a ConfigError."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot tell the figure format of '{path.name}'; end --out with .png or .pdf")
    return path


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as PNG or PDF, by the extension of `path`, atomically.

    The figure is rendered in memory, then written through `write_bytes_atomic`:
    a full disk or a kill leaves the previous figure whole, never a truncated one.
    A place that cannot be written is a ConfigError naming it.
    """
    path = check_figure_path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=150, format=path.suffix.lower().lstrip("."))
    try:
        return write_bytes_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror or exc}); choose another --out") from None


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _seeds_label(seeds: Sequence[int]) -> str:
    seeds = sorted(set(seeds))
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {', '.join(map(str, seeds))} pooled"


def _legend_outside(fig: Figure, ax: Axes) -> None:
    """Legend right of the axes, where it can never hide data."""
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=8, frameon=False)


def _chance_line(ax: Axes, way: int, vertical: bool = False) -> None:
    chance = 100.0 / way
    line = ax.axvline if vertical else ax.axhline
    line(chance, color="0.5", linestyle=":", linewidth=1, label=f"chance ({chance:.0f}%)")


# --- accuracy against shots ------------------------------------------------------------------------------


def shots_figure(cells: Sequence[Cell]) -> Figure:
    """One line per method through its mean at each shot, with 95% CI bars; `cells` are of one split."""
    split, way = cells[0].split, cells[0].way
    methods = sorted({c.method for c in cells})
    shots = sorted({c.shot for c in cells})
    fig, ax = _figure(7.4, 4.2)
    dodge = 0.03 * (max(shots) - min(shots) or 1)  # keeps CI bars of close methods apart
    for i, method in enumerate(methods):
        mine = sorted((c for c in cells if c.method == method), key=lambda c: c.shot)
        offset = (i - (len(methods) - 1) / 2) * dodge
        ax.errorbar(
            [c.shot + offset for c in mine], [c.summary.mean for c in mine], yerr=[c.summary.ci95 for c in mine],
            marker=MARKERS[i % len(MARKERS)], color=COLOURS[i % len(COLOURS)], capsize=4, linewidth=1.5,
            label=method,
        )  # fmt: skip
    ax.set_xticks(shots)
    ax.set_xlabel("shots per class")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{split}, {way}-way: accuracy vs shots\n{CI_NOTE}; {_seeds_label(_all_seeds(cells))}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    _legend_outside(fig, ax)
    return fig


def _all_seeds(cells: Sequence[Cell]) -> list[int]:
    return [s for c in cells for s in c.seeds]


# --- confusion counts, per-class accuracy and the confusion matrix ---------------------------------------


@dataclass(frozen=True)
class Confusion:
    """Confusion counts of one method on one split and shot, summed over the records (seeds) given."""

    method: str
    split: str
    shot: int
    way: int
    classes: tuple[str, ...]
    counts: np.ndarray  # (C, C), rows true, columns predicted
    seeds: tuple[int, ...]

    @property
    def per_class(self) -> pd.Series:
        """Accuracy (%) on the queries of each class; NaN for a class that was never queried."""
        totals = self.counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = 100.0 * np.diag(self.counts) / totals
        return pd.Series(accuracy, index=list(self.classes), name=self.method)

    @property
    def row_percent(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * self.counts / totals


def pooled_confusion(cell: Cell) -> Confusion:
    """Sum the confusion matrices of a cell's records; records without one are skipped with a warning."""
    records = list(cell.records)
    usable = [r for r in records if _has_confusion(r)]
    if not usable:
        missing = "classes" if not records[0].classes else "confusion"
        raise StoreError(
            f"no record of {cell.method} on {cell.split} at {cell.shot} shot(s) has a '{missing}' field "
            f"(older schema, e.g. {cell.paths[0]}); rerun it with the current fsfer-bench"
        )
    classes = tuple(usable[0].classes)
    if any(tuple(r.classes) != classes for r in usable):
        raise StoreError(f"the records of {cell.method} on {cell.split} list different classes; plot one with --seed")
    counts = sum(np.asarray(r.confusion, dtype=np.int64) for r in usable)
    seeds = tuple(r.seed for r in usable)
    return Confusion(cell.method, cell.split, cell.shot, cell.way, classes, counts, seeds)


def _has_confusion(record: Record) -> bool:
    for field in ("classes", "confusion"):
        if not getattr(record, field):
            warnings.warn(
                f"skipped record {record.record_id or '?'} for this plot: older schema without '{field}'",
                FsferWarning,
                stacklevel=3,
            )
            return False
    return True


def per_class_figure(confusions: Sequence[Confusion]) -> Figure:
    """Accuracy on each class as a dot plot (one marker per method), hardest classes at the top."""
    table = pd.concat([c.per_class for c in confusions], axis=1)
    table = table.loc[table.mean(axis=1).sort_values().index]
    y = np.arange(len(table))
    fig, ax = _figure(8.5, 1.6 + 0.32 * len(table))
    ax.hlines(y, table.min(axis=1), table.max(axis=1), color="0.8", linewidth=3, zorder=1)
    for i, method in enumerate(table.columns):
        ax.scatter(table[method], y, marker=MARKERS[i % len(MARKERS)], color=COLOURS[i % len(COLOURS)], s=36,
                   zorder=2, label=method)  # fmt: skip
    ax.set_yticks(y, [_class_label(c) for c in table.index], fontsize=9)
    ax.set_ylim(len(table) - 0.5, -0.5)  # hardest at the top
    first = confusions[0]
    _chance_line(ax, first.way, vertical=True)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy on the class's queries (%)")
    ax.set_title(
        f"{first.split}, {first.way}-way {first.shot}-shot: per-class accuracy, hardest first\n"
        f"from confusion counts summed over episodes; {_seeds_label([s for c in confusions for s in c.seeds])}",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    _legend_outside(fig, ax)
    return fig


def _class_label(name: str) -> str:
    """'disgustedly_surprised' -> 'disgustedly surprised': the same name, easier to read."""
    return name.replace("_", " ")


def confusion_figure(confusion: Confusion) -> Figure:
    """The row-normalised confusion matrix (% of each true class's queries), with the counts' percentages."""
    n = len(confusion.classes)
    size = 2.8 + 0.42 * n
    fig, ax = _figure(size + 1.0, size)
    percent = confusion.row_percent
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    _annotate(ax, percent, fontsize=7 if n > 10 else 9)
    labels = [_class_label(c) for c in confusion.classes]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, shrink=0.8, label="% of the true class's queries")
    ax.set_title(
        f"{confusion.method} on {confusion.split}, {confusion.way}-way {confusion.shot}-shot "
        f"({_seeds_label(confusion.seeds)})\neach episode offers only its {confusion.way} classes as answers",
        fontsize=10,
    )
    return fig


def _annotate(ax: Axes, percent: np.ndarray, fontsize: int) -> None:
    for (i, j), value in np.ndenumerate(percent):
        if np.isnan(value) or round(value) == 0:
            continue  # zeros left blank so the confusions stand out
        color = "white" if value > 55 else "black"
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=fontsize, color=color)


# --- histogram of per-episode accuracy ---------------------------------------------------------------------


def histogram_figure(cells: Sequence[Cell]) -> Figure:
    """Per-episode accuracy of each method (one split and shot) as outlined histograms, means dashed."""
    first = cells[0]
    edges = lattice_bins(np.concatenate([c.accuracies for c in cells]), first.way * first.query)
    fig, ax = _figure(8.4, 4.2)
    for i, cell in enumerate(cells):
        s = cell.summary
        color = COLOURS[i % len(COLOURS)]
        label = f"{cell.method}: {s.mean:.2f} ± {s.ci95:.2f}"
        ax.hist(cell.accuracies, bins=edges, histtype="step", linewidth=1.6, color=color, label=label)
        ax.axvline(s.mean, color=color, linestyle="--", linewidth=1)
    _chance_line(ax, first.way, vertical=True)
    ax.set_xlabel("accuracy of one episode (%)")
    ax.set_ylabel("episodes")
    ax.set_title(
        f"{first.split}, {first.way}-way {first.shot}-shot: per-episode accuracy\n"
        f"dashed: means; legend: {CI_NOTE}; {_seeds_label(_all_seeds(cells))}",
        fontsize=10,
    )
    _legend_outside(fig, ax)
    return fig


def lattice_bins(accuracies: np.ndarray, queries_per_episode: int, target_bins: int = 25) -> np.ndarray:
    """Bin edges on the grid of possible accuracies (k/Q · 100), so no bin gets more grid points than another."""
    step = 100.0 / queries_per_episode
    low, high = np.floor(accuracies.min() / step), np.ceil(accuracies.max() / step)
    width = max(1, int(np.ceil((high - low + 1) / target_bins)))
    return (np.arange(low, high + width + 1, width) - 0.5) * step
