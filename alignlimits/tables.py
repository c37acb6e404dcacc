r"""Results tables that read on the page: HTML in a notebook, aligned plain text in a terminal.

Chapters used to print results as fixed-width text, which overflows the book's column and
clips on a phone. :func:`table` builds a :class:`Table` that Jupyter renders as an HTML
table (inside a container that scrolls sideways instead of overflowing) and that prints as
aligned plain text anywhere else.

Examples
--------
>>> t = table([{"β": 0.5, "KL": 2.1693, "share": 0.937}, {"β": 1.0, "KL": 0.4781, "share": float("nan")}],
...           formats={"KL": ".3f", "share": ".1%"})
>>> print(t)
  β     KL  share
0.5  2.169  93.7%
1.0  0.478      –
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Table", "table"]

#: How a missing or undefined number (NaN, None) is shown.
MISSING = "–"


def _cell(value: Any, fmt: str | Callable[[Any], str] | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if callable(fmt):
        return fmt(value)
    if fmt is not None:
        return format(value, fmt)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        text = format(float(value), ".4g")
        # A float prints as one ("1.0", not "1"), so a column never mixes looks for the same kind of number.
        return text if any(c in text for c in ".einf") else text + ".0"
    return str(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Table:
    """A rendered results table: ``columns``, the formatted ``cells`` (one list per row) and an optional ``caption``.

    ``numeric[j]`` says whether column ``j`` holds numbers (right-aligned). Build one with :func:`table`.

    Examples
    --------
    >>> t = table([[1, "a"], [22, "b"]], columns=["n", "name"])
    >>> t.cells
    [['1', 'a'], ['22', 'b']]
    """

    columns: list[str]
    cells: list[list[str]]
    numeric: list[bool]
    caption: str | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        widths = [max(len(c), *(len(row[j]) for row in self.cells)) if self.cells else len(c)
                  for j, c in enumerate(self.columns)]  # fmt: skip

        def line(items: Sequence[str]) -> str:
            return "  ".join(
                item.rjust(w) if num else item.ljust(w)
                for item, w, num in zip(items, widths, self.numeric, strict=True)
            ).rstrip()

        out = ([self.caption] if self.caption else []) + [line(self.columns)] + [line(row) for row in self.cells]
        return "\n".join(out + self.notes)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        align = ["right" if num else "left" for num in self.numeric]
        head = "".join(f'<th style="text-align:{a}">{html.escape(c)}</th>' for c, a in zip(self.columns, align,
                                                                                          strict=True))  # fmt: skip
        body = "".join(
            "<tr>" + "".join(f'<td style="text-align:{a}">{html.escape(v)}</td>' for v, a in zip(row, align,
                                                                                                 strict=True))
            + "</tr>"
            for row in self.cells
        )  # fmt: skip
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        # The container scrolls sideways: a wide table never pushes past the page's column.
        return (
            '<div class="alignlimits-table" style="overflow-x:auto;max-width:100%">'
            f'<table style="font-variant-numeric:tabular-nums">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{notes}</div>"
        )


def table(
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[str] | None = None,
    *,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
    caption: str | None = None,
    notes: Sequence[str] = (),
) -> Table:
    """A :class:`Table` of ``rows`` (dicts keyed by column, or sequences in ``columns`` order).

    ``formats`` maps a column to a format spec (``".3f"``, ``"+.4f"``, ``".1%"``) or a function;
    without one, integers print whole and other numbers with 4 significant digits. NaN and
    None print as ``–``, booleans as yes/no. ``notes`` are lines printed under the table.

    Raises ValueError for rows of the wrong length, dict rows without ``columns`` agreement,
    or a format for a column the table does not have.

    Examples
    --------
    >>> print(table([[1, 0.25], [2, 0.125]], ["N", "gain"], formats={"gain": "+.3f"}, caption="best-of-N"))
    best-of-N
    N    gain
    1  +0.250
    2  +0.125
    """
    rows = list(rows)
    if columns is None:
        if not rows or not all(isinstance(r, Mapping) for r in rows):
            raise ValueError("give columns=, or rows as dicts keyed by column name.")
        columns = list(dict.fromkeys(k for r in rows for k in r))
    columns = [str(c) for c in columns]
    unknown = sorted(set(formats or {}) - set(columns))
    if unknown:
        raise ValueError(f"formats name columns the table does not have: {unknown}; its columns are {columns}.")
    values: list[list[Any]] = []
    for i, r in enumerate(rows):
        if isinstance(r, Mapping):
            missing = [c for c in columns if c not in r]
            if missing:
                raise ValueError(f"row {i} lacks the columns {missing}.")
            values.append([r[c] for c in columns])
        else:
            r = list(r)
            if len(r) != len(columns):
                raise ValueError(f"row {i} has {len(r)} values for {len(columns)} columns {columns}.")
            values.append(r)
    fmts = formats or {}
    cells = [[_cell(v, fmts.get(c)) for v, c in zip(row, columns, strict=True)] for row in values]
    numeric = [bool(values) and all(_numeric(row[j]) or row[j] is None for row in values) for j in range(len(columns))]
    return Table(columns, cells, numeric, caption, list(notes))
