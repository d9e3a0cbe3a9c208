"""How the command line lays out tables and the values in them, in one place.

Every table reads on an 80-column terminal: a light frame (rules between columns, none
around them), and three kinds of column, so that rich knows what it may wrap when the
terminal is narrow —

- :func:`number`: right-aligned, never wrapped (amounts, scores, counts, ids);
- :func:`fixed`: never wrapped (dates, states, short labels);
- :func:`text`: wrapped between words when space runs out (names, notes, descriptions);
  only a single word wider than the whole column is folded.

:func:`show` prints a table; on a terminal too narrow for it without cutting a value (under
80 columns, as a rule), it prints each row as a block of ``header  value`` lines instead.

Values are written by the same few functions everywhere: :func:`amount` (NMR rounded to
read, :func:`crowdalpha.units.display_nmr`; ``--json`` carries the exact value),
:func:`when` (``2026-03-07 18:00``, UTC) and :func:`day` (``2026-03-07``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

from crowdalpha.units import display_factor, display_nmr

__all__ = [
    "amount",
    "day",
    "factor",
    "fits",
    "fixed",
    "number",
    "score",
    "show",
    "table",
    "text",
    "vertical",
    "when",
]


def table(*columns: Column, title: str | None = None) -> Table:
    """A table in the CLI's style; its columns come from :func:`number`, :func:`fixed`
    and :func:`text`."""
    return Table(
        *columns,
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.MINIMAL,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )


def number(header: str) -> Column:
    """A right-aligned column that is never wrapped: amounts, scores, counts, ids."""
    return Column(header, justify="right", no_wrap=True)


def fixed(header: str) -> Column:
    """A column that is never wrapped: dates, states, short labels."""
    return Column(header, no_wrap=True)


def text(header: str, *, min_width: int | None = None) -> Column:
    """A column wrapped between words when the terminal is narrow."""
    return Column(header, overflow="fold", min_width=min_width)


def show(console: Console, table: Table) -> None:
    """Print ``table``; when the terminal is too narrow to show it without cutting a value
    that must stay whole, print :func:`vertical` of it instead."""
    console.print(table if fits(console, table) else vertical(table))


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` fits the console with no value cut or folded: each ``no_wrap``
    column as wide as its widest value, each other one as wide as its longest word."""
    wide = console.options.update_width(100_000)
    needed = widest = 0
    for column in table.columns:
        sizes = [Measurement.get(console, wide, cell) for cell in (column.header, *column.cells)]
        widest += max(size.maximum for size in sizes)
        needed += max(size.maximum if column.no_wrap else size.minimum for size in sizes)
    frame = Measurement.get(console, wide, table).maximum - widest  # padding and rules
    return needed + frame <= console.width


def vertical(table: Table) -> RenderableType:
    """The table's rows as blocks of ``header  value`` lines, a blank line between rows
    (as ``psql``'s expanded display does): for terminals too narrow for the columns."""
    cells = [list(column.cells) for column in table.columns]
    blocks: list[RenderableType] = []
    if table.title:
        blocks.append(Text(str(table.title), style="bold"))
    for i in range(table.row_count):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for column, values in zip(table.columns, cells, strict=True):
            grid.add_row(column.header, values[i])
        style = table.rows[i].style
        if style:
            grid.style = style
        blocks.append(grid if i == 0 else Group(Text(""), grid))
    return Group(*blocks)


def amount(units: int | None) -> str:
    """NMR as people read it (``375.90``); empty for none."""
    return "" if units is None else display_nmr(units)


def factor(value: str | None) -> str:
    """A payout factor as people read it (``0.9000``); empty for none."""
    return display_factor(value) if value else ""


def score(value: float | None, digits: int = 4) -> str:
    """A score with its sign (``+0.0123``); empty for none."""
    return "" if value is None else f"{value:+.{digits}f}"


def when(moment: datetime | None) -> str:
    """A moment in UTC to the minute (``2026-03-07 18:00``); empty for none."""
    return "" if moment is None else f"{_utc(moment):%Y-%m-%d %H:%M}"


def day(moment: datetime | None) -> str:
    """A moment's date in UTC (``2026-03-07``); empty for none."""
    return "" if moment is None else f"{_utc(moment):%Y-%m-%d}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
