"""Reports from the results store: tables, paired comparisons and plots.

Everything here only reads the store (through `fsfer_bench.results.load`):

    from fsfer_bench.results import load
    from fsfer_bench.report import Selection, select_runs, make_cells, build_table, to_latex
    runs = select_runs(load("results"), Selection(splits=("SynFACS_C",)), "results")
    print(to_latex(build_table(make_cells(runs)), standalone=True))
"""

from fsfer_bench.report.cells import Cell, Selection, UnpairedEpisodesError, find_cell, make_cells, select_runs
from fsfer_bench.report.compare import Comparison, compare_methods, format_comparison
from fsfer_bench.report.tables import Mark, Table, build_table, mark_column, to_csv, to_frame, to_latex, to_markdown

__all__ = [
    "Cell",
    "Comparison",
    "Mark",
    "Selection",
    "Table",
    "UnpairedEpisodesError",
    "build_table",
    "compare_methods",
    "find_cell",
    "format_comparison",
    "make_cells",
    "mark_column",
    "select_runs",
    "to_csv",
    "to_frame",
    "to_latex",
    "to_markdown",
]
