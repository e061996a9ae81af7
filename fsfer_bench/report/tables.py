"""Results tables: one table model, rendered as LaTeX (booktabs), markdown or CSV.

Rows are methods, columns are splits x shots, cells read "mean ± CI". In each
column the best mean is bold, and each other cell is tested against it with a
two-sided paired t-test on the per-episode accuracies of the episodes both ran;
the p-values of a column are Holm-corrected together, and cells whose adjusted
p-value stays at or above alpha are underlined ("not significantly worse").
A cell whose episodes differ from the best cell's (other sets, other counts,
other seeds) is not tested at all: it is marked with a dagger instead.

    from fsfer_bench.report import build_table, to_markdown
    print(to_markdown(build_table(cells)))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import groupby

import pandas as pd

from fsfer_bench.report.cells import Cell
from fsfer_bench.stats import holm, paired_compare

ALPHA = 0.05
DEFAULT_LABEL = "tab:fsfer-bench"


class Mark(str, Enum):
    BEST = "best"
    NOT_WORSE = "not significantly worse"
    WORSE = "significantly worse"
    UNPAIRED = "not tested (other episodes)"


@dataclass(frozen=True)
class Column:
    split: str
    shot: int


@dataclass(frozen=True)
class TableCell:
    method: str
    mean: float
    ci95: float  # Student-t half-width over the cell's episodes
    n_episodes: int
    seeds: tuple[int, ...]
    queries: int
    mark: Mark
    p_holm: float | None  # paired t-test against the column's best, Holm-adjusted; None if not tested


@dataclass(frozen=True)
class Table:
    rows: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: dict[tuple[str, Column], TableCell]
    way: int
    alpha: float
    pooled: bool

    def cell(self, row: str, column: Column) -> TableCell | None:
        return self.cells.get((row, column))

    @property
    def filled(self) -> list[TableCell]:
        return list(self.cells.values())


# --- building the model --------------------------------------------------------------------------


def build_table(
    cells: Sequence[Cell],
    methods: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    shots: Sequence[int] | None = None,
    alpha: float = ALPHA,
) -> Table:
    """The table of `cells` (from `make_cells`); methods, splits and shots keep the order given."""
    if not cells:
        raise ValueError("no cells to tabulate")
    methods = methods or sorted({c.method for c in cells})
    splits = splits or sorted({c.split for c in cells})
    shots = shots or sorted({c.shot for c in cells})
    columns = tuple(Column(sp, sh) for sp in splits for sh in shots)
    rows = _row_order(cells, methods)
    table_cells: dict[tuple[str, Column], TableCell] = {}
    for column in columns:
        in_column = {c.row: c for c in cells if (c.split, c.shot) == (column.split, column.shot)}
        for row, (mark, p) in mark_column(in_column, alpha).items():
            table_cells[(row, column)] = _table_cell(in_column[row], mark, p)
    return Table(rows, columns, table_cells, cells[0].way, alpha, pooled=not cells[0].listed_apart)


def _row_order(cells: Sequence[Cell], methods: Sequence[str]) -> tuple[str, ...]:
    rank = {m: i for i, m in enumerate(methods)}
    keyed = {(rank[c.method], c.seeds, c.row) for c in cells if c.method in rank}
    return tuple(dict.fromkeys(row for *_, row in sorted(keyed)))


def mark_column(cells: dict[str, Cell], alpha: float = ALPHA) -> dict[str, tuple[Mark, float | None]]:
    """Bold the best mean; test every paired cell against it (paired t-test, Holm across the column)."""
    if not cells:
        return {}
    best_row = max(cells, key=lambda row: cells[row].summary.mean)  # ties: the first row
    best = cells[best_row]
    tested = [r for r, c in cells.items() if r != best_row and c.pairs_with(best) and c.n_episodes >= 2]
    raw = [paired_compare(best.accuracies, cells[r].accuracies).t_pvalue for r in tested]
    adjusted = dict(zip(tested, holm(raw))) if tested else {}
    marks: dict[str, tuple[Mark, float | None]] = {best_row: (Mark.BEST, None)}
    for row in cells:
        if row in adjusted:
            p = float(adjusted[row])
            marks[row] = (Mark.NOT_WORSE if p >= alpha else Mark.WORSE, p)
        elif row != best_row:
            marks[row] = (Mark.UNPAIRED, None)
    return marks


def _table_cell(cell: Cell, mark: Mark, p: float | None) -> TableCell:
    s = cell.summary
    return TableCell(cell.method, s.mean, s.ci95, s.n, cell.seeds, cell.query, mark, p)


# --- markup shared by the text formats ---------------------------------------------------------------


@dataclass(frozen=True)
class Markup:
    """How one text format writes the few things a table needs."""

    escape: Callable[[str], str]
    bold: Callable[[str], str]
    underline: Callable[[str], str]
    pm: str
    dagger: str
    percent: str
    dash: str
    alpha: str
    missing: str


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip
_MARKDOWN_SPECIALS = {c: f"\\{c}" for c in "\\`*_|<>[]"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def markdown_escape(text: str) -> str:
    return "".join(_MARKDOWN_SPECIALS.get(ch, ch) for ch in text)


LATEX = Markup(
    escape=latex_escape,
    bold=lambda s: rf"\textbf{{{s}}}",
    underline=lambda s: rf"\underline{{{s}}}",
    pm=r"$\pm$",
    dagger=r"$^{\dagger}$",
    percent=r"\%",
    dash="--",
    alpha=r"$\alpha$",
    missing="--",
)
MARKDOWN = Markup(
    escape=markdown_escape,
    bold=lambda s: f"**{s}**",
    underline=lambda s: f"<ins>{s}</ins>",  # GitHub renders <ins> underlined; markdown has no underline
    pm="±",
    dagger="†",
    percent="%",
    dash="–",
    alpha="α",
    missing="–",
)


def cell_text(cell: TableCell | None, m: Markup, decimals: int = 2) -> str:
    """'mean ± CI' with the column's emphasis; the CI has the mean's decimals."""
    if cell is None:
        return m.missing
    text = f"{_number(cell.mean, decimals, m)} {m.pm} {_number(cell.ci95, decimals, m)}"
    if cell.mark is Mark.BEST:
        return m.bold(text)
    if cell.mark is Mark.NOT_WORSE:
        return m.underline(text)
    if cell.mark is Mark.UNPAIRED:
        return text + m.dagger
    return text


def _number(x: float, decimals: int, m: Markup) -> str:
    return m.missing if math.isnan(x) else f"{x:.{decimals}f}"


def default_caption(table: Table, m: Markup) -> str:
    return (
        f"Few-shot expression recognition, {table.way}-way: accuracy ({m.percent}) "
        f"as mean {m.pm} 95{m.percent} confidence interval."
    )


def notes(table: Table, m: Markup) -> list[str]:
    """The sentences under the table: what the CI is, what bold and underline mean, the seeds."""
    said = [
        f"Cells: mean accuracy ({m.percent}) {m.pm} half-width of the Student-t 95{m.percent} confidence interval "
        f"over {_episodes_phrase(table, m)}; {table.way}-way episodes with {_queries_phrase(table, m)}.",
        f"{m.bold('Bold')}: best mean in its column. {m.underline('Underlined')}: not significantly worse than it "
        f"(two-sided paired t-test on per-episode accuracies over the shared episodes, Holm-corrected across the "
        f"column, {m.alpha} = {table.alpha:g}).",
    ]
    if any(c.mark is Mark.UNPAIRED for c in table.filled):
        said.append(
            f"{m.dagger} Not tested against the column's best: its runs used different episode sets, "
            "or different numbers of episodes, so no paired comparison exists."
        )
    said.append(_seeds_sentence(table, m))
    return said


def _episodes_phrase(table: Table, m: Markup) -> str:
    counts = sorted({c.n_episodes for c in table.filled})
    if len(counts) == 1:
        return f"the n = {counts[0]} test episodes of each cell"
    return f"the test episodes of each cell (n = {counts[0]}{m.dash}{counts[-1]}; see the CSV output)"


def _queries_phrase(table: Table, m: Markup) -> str:
    queries = sorted({c.queries for c in table.filled})
    return f"{'/'.join(map(str, queries))} queries per class"


def _seeds_sentence(table: Table, m: Markup) -> str:
    seeds = sorted({s for c in table.filled for s in c.seeds})
    if not table.pooled:
        return "Seeds listed apart: one row per method and seed."
    if len(seeds) == 1:
        return f"All runs: seed {seeds[0]}."
    return (
        f"Seeds {', '.join(map(str, seeds))} pooled: per-episode accuracies concatenated, so the interval leaves "
        "out seed-to-seed variation of training; cells are paired only where the episode sets match seed by seed."
    )


# --- the three renderings -------------------------------------------------------------------------------


def to_latex(
    table: Table,
    caption: str | None = None,
    label: str = DEFAULT_LABEL,
    standalone: bool = False,
    decimals: int = 2,
) -> str:
    """A booktabs `table` float; `standalone` wraps it in a document that pdflatex compiles as is."""
    m = LATEX
    groups = _split_groups(table.columns)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{caption or default_caption(table, m)}}}",
        rf"\label{{{label}}}",
        r"\setbox0=\hbox{%  the notes below take the table's width",
        rf"\begin{{tabular}}{{l{''.join('c' * n for _, n in groups)}}}",
        r"\toprule",
        " & ".join(["", *(rf"\multicolumn{{{n}}}{{c}}{{{m.escape(split)}}}" for split, n in groups)]) + r" \\",
        " ".join(_cmidrules(groups)),
        " & ".join(["Method", *(f"{c.shot}-shot" for c in table.columns)]) + r" \\",
        r"\midrule",
        *(" & ".join(_row_cells(table, row, m, decimals)) + r" \\" for row in table.rows),
        r"\bottomrule",
        r"\end{tabular}}",
        r"\begin{minipage}{\wd0}",
        r"\copy0",
        r"\par\smallskip\footnotesize\raggedright",
        "\n".join(notes(table, m)),
        r"\end{minipage}",
        r"\end{table}",
    ]
    body = "\n".join(lines) + "\n"
    return _latex_document(body, len(table.columns)) if standalone else body


def _split_groups(columns: Sequence[Column]) -> list[tuple[str, int]]:
    return [(split, len(list(group))) for split, group in groupby(columns, key=lambda c: c.split)]


def _cmidrules(groups: list[tuple[str, int]]) -> list[str]:
    rules, start = [], 2
    for _, n in groups:
        rules.append(rf"\cmidrule(lr){{{start}-{start + n - 1}}}")
        start += n
    return rules


def _row_cells(table: Table, row: str, m: Markup, decimals: int) -> list[str]:
    return [m.escape(row), *(cell_text(table.cell(row, c), m, decimals) for c in table.columns)]


def _latex_document(body: str, n_columns: int) -> str:
    """A page the table fits on: A4 up to 4 result columns, then A4 landscape, then A3 landscape."""
    paper = "a4paper" if n_columns <= 8 else "a3paper"
    geometry = f"{paper},margin=2cm" + (",landscape" if n_columns > 4 else "")
    return "\n".join(
        [
            r"\documentclass[11pt]{article}",
            r"\usepackage{booktabs}",
            rf"\usepackage[{geometry}]{{geometry}}",
            r"\pagestyle{empty}",
            r"\begin{document}",
            body,
            r"\end{document}",
            "",
        ]
    )


def to_markdown(table: Table, caption: str | None = None, decimals: int = 2) -> str:
    """A GitHub-flavoured markdown table with its caption above and notes below, for READMEs."""
    m = MARKDOWN
    header = ["Method", *(f"{m.escape(c.split)} {c.shot}-shot" for c in table.columns)]
    lines = [
        f"**{caption or default_caption(table, m)}**",
        "",
        _md_row(header),
        _md_row([":--", *(":-:" for _ in table.columns)]),
        *(_md_row(_row_cells(table, row, m, decimals)) for row in table.rows),
        "",
        *(f"{note}  " for note in notes(table, m)),
    ]
    return "\n".join(lines) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_frame(table: Table) -> pd.DataFrame:
    """One row per cell, numbers unformatted: the table's content for pandas, spreadsheets and scripts."""
    rows = [
        {
            "method": cell.method,
            "row": row,
            "split": column.split,
            "shot": column.shot,
            "way": table.way,
            "mean": cell.mean,
            "ci95_t": cell.ci95,
            "n_episodes": cell.n_episodes,
            "seeds": " ".join(map(str, cell.seeds)),
            "mark": cell.mark.value,
            "p_holm_vs_best": cell.p_holm,
        }
        for row in table.rows
        for column in table.columns
        if (cell := table.cell(row, column)) is not None
    ]
    return pd.DataFrame(rows)


def to_csv(table: Table) -> str:
    return to_frame(table).to_csv(index=False, float_format="%.6g")
