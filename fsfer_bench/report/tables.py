"""Results tables: one table model, rendered as LaTeX (booktabs), markdown or CSV.

Rows are methods, columns are splits x shots, cells read "mean ± CI". With two or
more training seeds the interval is for the method's expected accuracy over retraining
and over the population of test episodes (`Cell.summary`: seeds and episodes crossed
when every seed ran one episode set); with one seed it counts the episodes only and
speaks for that trained model. In each column the best mean is bold; every pair of
paired cells is tested (`Cell.paired_pvalue`, differences paired by seed and episode)
and the p-values of the column are Holm-corrected together, so that the choice of the
best row after looking does not inflate the marks; cells whose adjusted p-value
against the best stays at or above alpha are underlined ("not significantly worse").
A cell whose episodes differ from the best cell's (other sets, other counts,
other seeds) is not tested at all: it is marked with a dagger instead.

Other marks flag what a reader must know before comparing a cell: weights not from
the method's final training stage, a transductive method, training on the test
database; the notes also say what each column group trained on, at which image
size, and whether the methods ran at different image sizes.

A column of the CSV/DataFrame output is one entry of `FRAME_COLUMNS` (a name and a
function of the `TableCell`, whose `source` cell holds the records).

    from fsfer_bench.report import build_table, to_markdown
    print(to_markdown(build_table(cells)))
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import groupby

import pandas as pd

from fsfer_bench.record import UNKNOWN
from fsfer_bench.report.cells import Cell
from fsfer_bench.stats import holm

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
    row: str
    column: Column
    way: int
    mean: float  # mean of the per-seed means (equal to the mean of all episodes on one shared set)
    ci95: float  # half-width: over seeds and the episode population with several seeds, else over episodes
    n_episodes: int
    seeds: tuple[int, ...]
    queries: int
    mark: Mark
    p_holm: float | None  # test against the column's best, Holm-adjusted over all pairs; None if not tested
    source: Cell = field(compare=False, repr=False)  # the runs behind it, with their records

    @property
    def inference(self) -> str:
        """What the interval and the test are over: "seeds" or "episodes"."""
        return "seeds" if self.source.across_seeds else "episodes"

    @property
    def flags(self) -> tuple[str, ...]:
        """Keys of the FLAGS that apply to this cell."""
        return tuple(f.key for f in FLAGS if f.applies(self.source))


@dataclass(frozen=True)
class Flag:
    """A mark after a cell, with the note that explains it under the table."""

    key: str
    applies: Callable[[Cell], bool]
    note: str


FLAGS = (
    Flag("not_final_stage", lambda c: c.returned_final_stage == "no",
         "Returned weights not from the method's final training stage (model selection kept an earlier "
         "stage's checkpoint, so the later stages were trained and discarded)."),
    Flag("transductive", lambda c: c.flag("transductive") is True,
         "Transductive: the method uses each episode's query images together at test time."),
    Flag("same_database", lambda c: c.flag("same_database") is True,
         "Trained on the test database (other people): not a cross-database result."),
)  # fmt: skip


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
            table_cells[(row, column)] = _table_cell(in_column[row], column, mark, p)
    return Table(rows, columns, table_cells, cells[0].way, alpha, pooled=not cells[0].listed_apart)


def _row_order(cells: Sequence[Cell], methods: Sequence[str]) -> tuple[str, ...]:
    rank = {m: i for i, m in enumerate(methods)}
    keyed = {(rank[c.method], c.seeds, c.row) for c in cells if c.method in rank}
    return tuple(dict.fromkeys(row for *_, row in sorted(keyed)))


def mark_column(cells: dict[str, Cell], alpha: float = ALPHA) -> dict[str, tuple[Mark, float | None]]:
    """Bold the best mean; mark each cell paired with it significantly worse or not.

    The best row is chosen after looking at the means, so testing only the others against it (Holm over
    those tests) fires in about 7% of tables of five equal methods at alpha 0.05. Instead every paired pair
    of the column is tested (`Cell.paired_pvalue`) and Holm-corrected as one family, which holds the chance
    of any false mark at alpha whichever row turns out best; a cell's mark is its pair with the best row.
    """
    if not cells:
        return {}
    best_row = max(cells, key=lambda row: cells[row].summary.mean)  # ties: the first row
    adjusted = _all_pairs_holm(cells)
    marks: dict[str, tuple[Mark, float | None]] = {best_row: (Mark.BEST, None)}
    for row in cells:
        p = adjusted.get(frozenset((best_row, row)))
        if p is not None:
            marks[row] = (Mark.NOT_WORSE if p >= alpha else Mark.WORSE, p)
        elif row != best_row:
            marks[row] = (Mark.UNPAIRED, None)
    return marks


def _all_pairs_holm(cells: dict[str, Cell]) -> dict[frozenset[str], float]:
    """Holm-adjusted p-values of every testable pair of rows in one column, keyed by the pair."""
    rows = list(cells)
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :] if cells[a].testable_against(cells[b])]
    if not pairs:
        return {}
    raw = [cells[a].paired_pvalue(cells[b]) for a, b in pairs]
    return {frozenset(pair): float(p) for pair, p in zip(pairs, holm(raw))}


def _table_cell(cell: Cell, column: Column, mark: Mark, p: float | None) -> TableCell:
    s = cell.summary
    return TableCell(
        cell.method, cell.row, column, cell.way, s.mean, s.ci95, cell.n_episodes, cell.seeds, cell.query, mark, p,
        source=cell,
    )  # fmt: skip


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
    flags: dict[str, str]  # FLAGS key -> its mark


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
    flags={"not_final_stage": r"$^{\ddagger}$", "transductive": r"$^{\S}$", "same_database": r"$^{\P}$"},
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
    flags={"not_final_stage": "‡", "transductive": "§", "same_database": "¶"},
)


def cell_text(cell: TableCell | None, m: Markup, decimals: int = 2) -> str:
    """'mean ± CI' with the column's emphasis; the CI has the mean's decimals."""
    if cell is None:
        return m.missing
    text = f"{_number(cell.mean, decimals, m)} {m.pm} {_number(cell.ci95, decimals, m)}"
    if cell.mark is Mark.BEST:
        text = m.bold(text)
    elif cell.mark is Mark.NOT_WORSE:
        text = m.underline(text)
    elif cell.mark is Mark.UNPAIRED:
        text += m.dagger
    return text + "".join(m.flags[key] for key in cell.flags)


def _number(x: float, decimals: int, m: Markup) -> str:
    return m.missing if math.isnan(x) else f"{x:.{decimals}f}"


def default_caption(table: Table, m: Markup) -> str:
    return (
        f"Few-shot expression recognition, {table.way}-way: accuracy ({m.percent}) "
        f"as mean {m.pm} 95{m.percent} confidence interval."
    )


def notes(table: Table, m: Markup) -> list[str]:
    """The sentences under the table: what the CI and the marks mean, the seeds, flags and training."""
    by_seeds = [c for c in table.filled if c.inference == "seeds"]
    by_episodes = [c for c in table.filled if c.inference == "episodes"]
    said = [_cells_sentence(table, m, by_seeds, by_episodes), _marks_sentence(table, m, by_seeds, by_episodes)]
    if any(c.mark is Mark.UNPAIRED for c in table.filled):
        said.append(
            f"{m.dagger} Not tested against the column's best: its runs used different episode sets "
            "(seed by seed), different numbers of episodes, or other seeds, so no paired comparison exists."
        )
    said.append(_seeds_sentence(table, by_seeds, by_episodes, m))
    said.extend(f"{m.flags[f.key]} {f.note}" for f in FLAGS if any(f.key in c.flags for c in table.filled))
    said.extend(_unknown_stage_sentence(table, m))
    said.extend(_image_size_sentence(table, m))
    said.extend(_training_sentences(table, m))
    return said


def _cells_sentence(table: Table, m: Markup, by_seeds: list[TableCell], by_episodes: list[TableCell]) -> str:
    episodes = f"{table.way}-way episodes with {_queries_phrase(table, m)}"
    ci = f"half-width of the 95{m.percent} confidence interval"
    ci_t = f"half-width of the Student-t 95{m.percent} confidence interval"
    if not by_seeds:
        return f"Cells: mean accuracy ({m.percent}) {m.pm} {ci_t} over {_episodes_phrase(by_episodes, m)}; {episodes}."
    counts = "/".join(map(str, sorted({len(c.seeds) for c in by_seeds})))
    said = (
        f"Cells of {counts} training seeds: mean accuracy ({m.percent}) over the seeds {m.pm} {ci} for the "
        f"method's expected accuracy over retraining and over the population of test episodes, so both "
        f"retraining and the sampling of test episodes count ({_design_phrase(by_seeds)}); {episodes}, "
        f"{_episodes_phrase(by_seeds, m, per_seed=True)}."
    )
    if by_episodes:
        said += f" Cells of one seed: {ci_t} over {_episodes_phrase(by_episodes, m)}."
    return said


def _design_phrase(by_seeds: list[TableCell]) -> str:
    crossed = {c.source.shares_episodes for c in by_seeds}
    said = []
    if True in crossed:
        said.append(
            "seeds sharing one episode set: two-way crossed seeds x episodes variance components, "
            "a t quantile for each part"
        )
    if False in crossed:
        said.append("seeds on their own episode sets: Student-t over the seed means")
    return "; ".join(said)


def _marks_sentence(table: Table, m: Markup, by_seeds: list[TableCell], by_episodes: list[TableCell]) -> str:
    tests = []
    if by_seeds:
        tests.append(
            "across seeds: two-sided test of the differences paired by seed and by episode, estimated as the cells are"
        )
    if by_episodes:
        tests.append("for one seed: two-sided paired t-test on per-episode accuracies over the shared episodes")
    return (
        f"{m.bold('Bold')}: best mean in its column. {m.underline('Underlined')}: not significantly worse than it "
        f"({'; '.join(tests)}; every pair of the column tested and Holm-corrected together, so the choice of "
        f"the best row after looking is controlled, {m.alpha} = {table.alpha:g})."
    )


def _episodes_phrase(cells: list[TableCell], m: Markup, per_seed: bool = False) -> str:
    counts = sorted({n for c in cells for n in c.source.episode_counts} if per_seed else {c.n_episodes for c in cells})
    each = "each seed ran" if per_seed else "the"
    if len(counts) == 1:
        return f"{each} n = {counts[0]} test episodes" + ("" if per_seed else " of each cell")
    return f"{each} n = {counts[0]}{m.dash}{counts[-1]} test episodes (see the CSV output)"


def _queries_phrase(table: Table, m: Markup) -> str:
    queries = sorted({c.queries for c in table.filled})
    return f"{'/'.join(map(str, queries))} queries per class"


def _seeds_sentence(table: Table, by_seeds: list[TableCell], by_episodes: list[TableCell], m: Markup) -> str:
    seeds = sorted({s for c in table.filled for s in c.seeds})
    one_model = "intervals and tests count only the sampling of test episodes, so they speak for that trained model"
    if not table.pooled:
        return f"Seeds listed apart: one row per method and seed; {one_model} only, not for a retraining."
    if not by_seeds:
        return f"All runs: seed {', '.join(map(str, seeds))}, one trained model per cell: {one_model} only."
    said = f"Training seeds {_seeds_by_split(table, m)}: inference across seeds and test episodes."
    if by_episodes:
        said += f" Cells of one seed: {one_model} only."
    return said


def _seeds_by_split(table: Table, m: Markup) -> str:
    """The seeds run, named per split where splits ran different ones (a study may have fewer seeds on one
    target), so a reader does not take one split's seeds for every column's."""
    of_split: dict[str, set[int]] = {}
    for c in table.filled:
        of_split.setdefault(c.column.split, set()).update(c.seeds)
    splits_of: dict[tuple[int, ...], list[str]] = {}
    for split, seeds in of_split.items():
        splits_of.setdefault(tuple(sorted(seeds)), []).append(split)
    if len(splits_of) == 1:
        return ", ".join(map(str, next(iter(splits_of))))
    return "; ".join(
        f"{', '.join(map(str, seeds))} on {m.escape(', '.join(splits))}" for seeds, splits in splits_of.items()
    )


def _unknown_stage_sentence(table: Table, m: Markup) -> list[str]:
    """Methods trained in several stages whose records do not say which stage the weights came from."""
    unknown = sorted({c.method for c in table.filled if c.source.returned_final_stage == UNKNOWN})
    if not unknown:
        return []
    return [
        f"Which training stage the returned weights came from is not recorded for {m.escape(', '.join(unknown))} "
        "(records before schema 2); an earlier stage's checkpoint may have been kept."
    ]


def _image_size_sentence(table: Table, m: Markup) -> list[str]:
    """Name the methods that ran at another image size than most of the table's."""
    sizes: dict[str, tuple] = {}
    for c in table.filled:
        found = {r.image_size for r in c.source.records if r.image_size}
        sizes[c.method] = tuple(sorted(found | set(sizes.get(c.method, ()))))
    common = Counter(size for found in sizes.values() for size in found).most_common()
    if len(common) <= 1:
        return []
    usual = common[0][0]
    others = ", ".join(
        f"{m.escape(method)} {'/'.join(map(str, found))} px"
        for method, found in sizes.items()
        if found != (usual,) and found
    )
    return [f"Methods in this table ran at different image sizes: {usual} px, except {others}."]


def _training_sentences(table: Table, m: Markup) -> list[str]:
    """Per column group: what the methods trained on, at which image size, and how many images they saw."""
    said = []
    for split, _ in _split_groups(table.columns):
        cells = [c for c in table.filled if c.column.split == split]
        records = [r for c in cells for r in c.source.records]
        sources = sorted({m.escape(", ".join(r.train_on)) for r in records if r.train_on})
        sizes = sorted({r.image_size for r in records if r.image_size})
        parts = []
        if sources:
            parts.append(f"trained on {'; '.join(sources)}")
        if sizes:
            parts.append(f"{'/'.join(map(str, sizes))} px")
        aligned = {bool(r.config.get("face_align")) for r in records}
        if aligned == {True}:
            parts.append("faces aligned with dlib")
        elif aligned == {True, False}:
            parts.append("faces aligned for some methods only")
        seen = _images_seen(cells, m)
        if seen:
            parts.append(f"training images behind the returned weights: {seen}")
        if parts:
            said.append(f"{m.escape(split)}: {'; '.join(parts)}.")
    return said


def _images_seen(cells: list[TableCell], m: Markup) -> str:
    """Per method, the training images behind the evaluated weights (validation may return an earlier step)."""
    seen: dict[str, set] = {}
    for c in cells:
        seen.setdefault(c.method, set()).update(
            r.images_seen_returned for r in c.source.records if r.images_seen_returned is not None
        )
    listed = [_images_range(m.escape(method), n, m) for method, n in seen.items() if n]
    return ", ".join(listed)


def _images_range(method: str, seen: set, m: Markup) -> str:
    known = {n for n in seen if isinstance(n, int)}
    if not known:
        return f"{method} {UNKNOWN}"
    shown = f"{method} {min(known):,}" + ("" if len(known) == 1 else f"{m.dash}{max(known):,}")
    return shown if known == seen else f"{shown} (some {UNKNOWN})"


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
    rows = [_row_cells(table, row, m, decimals) for row in table.rows]
    return markdown_table(caption or default_caption(table, m), header, rows, notes(table, m))


def markdown_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str]) -> str:
    """Caption in bold, the table (first column left, the rest centred), then the notes, one a line."""
    lines = [
        f"**{caption}**",
        "",
        md_row(header),
        md_row([":--", *(":-:" for _ in header[1:])]),
        *(md_row(row) for row in rows),
        "",
        *(f"{note}  " for note in notes),
    ]
    return "\n".join(lines) + "\n"


def md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


#: The columns of `to_frame` and `to_csv`, in order: name -> value of a TableCell. One entry per column.
FRAME_COLUMNS: dict[str, Callable[[TableCell], object]] = {
    "method": lambda c: c.method,
    "row": lambda c: c.row,
    "split": lambda c: c.column.split,
    "shot": lambda c: c.column.shot,
    "way": lambda c: c.way,
    "mean": lambda c: c.mean,
    "ci95_t": lambda c: c.ci95,
    "inference": lambda c: c.inference,
    "n_episodes": lambda c: c.n_episodes,
    "seeds": lambda c: " ".join(map(str, c.seeds)),
    "mark": lambda c: c.mark.value,
    "p_holm_vs_best": lambda c: c.p_holm,
    "flags": lambda c: " ".join(c.flags),
    "returned_final_stage": lambda c: c.source.returned_final_stage,
    "transductive": lambda c: c.source.flag("transductive"),
    "same_database": lambda c: c.source.flag("same_database"),
    "train_on": lambda c: ",".join(t) if isinstance(t := c.source.flag("train_on"), tuple) else t,
    "image_size": lambda c: c.source.flag("image_size"),
    "images_seen": lambda c: c.source.flag("images_seen_returned"),  # behind the evaluated weights
    "images_drawn": lambda c: c.source.flag("images_seen"),  # over the whole training
}


def to_frame(table: Table) -> pd.DataFrame:
    """One row per cell, numbers unformatted: the table's content for pandas, spreadsheets and scripts."""
    cells = [cell for row in table.rows for column in table.columns if (cell := table.cell(row, column)) is not None]
    return pd.DataFrame([{name: value(cell) for name, value in FRAME_COLUMNS.items()} for cell in cells])


def to_csv(table: Table) -> str:
    return to_frame(table).to_csv(index=False, float_format="%.6g")
