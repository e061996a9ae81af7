"""CSV label files read so that a stray quote cannot swallow rows unseen.

A `"` at the start of a field opens a quoted field that runs, newlines and all,
to the next `"`: one stray quote in `manifest.csv` or CFEE's `label.csv` turns
hundreds of lines into one garbled row, and the rest of the file is silently
gone. Label files hold one row per line, so every reader counts the physical
lines the parser consumed against the rows it returned (`CountedRows`); where
they part, the first line of the row that spans several lines is the stray
quote, and the difference is the number of rows lost. The adapters report that
as a `SWALLOWED_ROWS` problem: `data check` calls it an error, a run warns once
(rows lost, first bad line), and `--strict` fails on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

#: The Problem kind of a label file whose lines and rows part; `data check` reports it as fatal.
SWALLOWED_ROWS = "rows swallowed by a quote"


class CsvReader(Protocol):
    """What `csv.reader` returns: rows, and how many physical lines it has consumed."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


@dataclass(frozen=True)
class Divergence:
    """Where a CSV file's physical lines and parsed rows part: the first row spanning several lines."""

    first_line: int  # where that row starts: the stray quote is on this line
    last_line: int  # where it ends
    lines: int  # physical lines read in all
    rows: int  # rows parsed in all (the header and blank lines included)

    @property
    def lost(self) -> int:
        return self.lines - self.rows

    def detail(self) -> str:
        return (
            f"{self.lost} {'row' if self.lost == 1 else 'rows'} lost: a '\"' opens a quoted field on this line "
            f"that runs to line {self.last_line} "
            f"({self.lines} lines read as {self.rows} rows); remove the stray quote, or close it on its line"
        )


class CountedRows:
    """The rows of a `csv.reader` as (first line, row), from where the reader stands (after a header, say).

    After iterating, `divergence` says where lines and rows parted; None where every row is one line.
    """

    def __init__(self, reader: CsvReader) -> None:
        self._reader = reader
        self.divergence: Divergence | None = None

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        line = rows = reader.line_num  # the lines already read were rows too (a header is one line)
        first: tuple[int, int] | None = None
        for row in reader:
            start, line = line + 1, reader.line_num
            rows += 1
            if line > start and first is None:
                first = (start, line)
            yield start, row
        if first is not None:
            self.divergence = Divergence(first[0], first[1], line, rows)
