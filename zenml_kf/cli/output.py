"""Console helpers for the CLI: tables and lines sized to the real terminal.

Everything printed here is literal text: step errors, parameters, paths and names come
from users and may contain `[...]`, which rich would otherwise read as markup and drop.
Styling is only ever applied by passing `(text, style)` pairs, never by markup in strings.

Two modes: a terminal gets styles and a light table frame; anything else (a pipe, a file,
or `NO_COLOR` set) gets plain text with no escape codes and no box-drawing characters,
so output stays greppable and diffable. Width: COLUMNS, else the terminal's, else none.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

Styled = tuple[str, str]
"""A piece of text and the rich style to show it in (in a terminal; plain otherwise)."""

Cell = str | Styled | None


@dataclass(frozen=True)
class Column:
    """A table column. `whole` cells (ids, type names) are never wrapped nor cut: copying
    a run id from two lines, or reading `Classi` / `fierMixin`, is worse than a wide table."""

    name: str
    whole: bool = False


def plain() -> bool:
    """No styles and no box drawing: stdout is not a terminal, or the user asked (NO_COLOR)."""
    if os.environ.get("NO_COLOR"):  # https://no-color.org: set and not empty
        return True
    return not _isatty()


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


UNBOUNDED = 10_000


def width() -> int:
    """COLUMNS when set, else the terminal's width; a pipe without COLUMNS has no width, so
    nothing is wrapped (`UNBOUNDED`): a path folded across lines breaks grep and scripts."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if _isatty():
        return shutil.get_terminal_size((80, 24)).columns
    return UNBOUNDED


def echo(*parts: str | Styled, wrap: bool = False) -> None:
    """Print one line, literally. Long lines are not broken unless `wrap` (prose such as an
    error message): a path or an id split by an inserted newline cannot be pasted back, and
    the terminal wraps what it must."""
    from rich.text import Text

    _console().print(Text.assemble(*parts), soft_wrap=not wrap)


def print_table(
    title: str | None,
    columns: Sequence[str | Column],
    rows: Iterable[Sequence[Cell]],
    *,
    wide: bool = False,
) -> None:
    """A table that fits the terminal: long cells wrap in their column, except `whole` ones.

    `wide`: never wrap; the table is as wide as its content, for piping into other tools.
    """
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    cells = [[_text(cell) for cell in row] for row in rows]
    is_plain = plain()
    if title:  # a line of its own: a table's title is wrapped to the table's width
        echo((title, "bold"))
    table = Table(
        box=None if is_plain else box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="" if is_plain else "bold",
    )
    needed = 0
    for index, column in enumerate(cols):
        longest = max([cell_len(column.name), *(cell_len(row[index].plain) for row in cells)])
        if column.whole or wide:
            table.add_column(column.name, no_wrap=True, min_width=longest, overflow="ignore")
            needed += longest
        else:
            table.add_column(column.name, overflow="fold")
            needed += min(longest, 6)
    for row in cells:
        table.add_row(*row)
    needed += 2 * (len(cols) - 1)  # the gap between columns
    console = _console()
    if wide:
        needed = console.measure(table, options=console.options.update_width(10_000)).maximum
    if needed > console.width:
        console = _console(needed)  # wider than the terminal rather than a cut id
    if not plain():
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    # rich pads every cell to its column; trailing blanks only get in the way of grep and diff
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def print_mapping(title: str, values: dict[str, Any]) -> None:
    print_table(title, ["setting", "value"], sorted(values.items()))


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` columns with a final `…`; for one-line summaries of long messages."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= limit:
        return text
    return set_cell_size(text, max(limit - 1, 0)) + "…"


def _text(cell: Cell) -> Text:
    from rich.text import Text

    if cell is None:
        return Text("")
    if isinstance(cell, tuple):
        return Text(cell[0], style="" if plain() else cell[1])
    return Text(str(cell))


def _console(at_least: int = 0) -> Console:
    from rich.console import Console

    if plain():
        return Console(
            width=max(width(), at_least),
            color_system=None,
            highlight=False,
            markup=False,
            emoji=False,
            force_terminal=False,
        )
    return Console(width=max(width(), at_least), highlight=False, markup=False, emoji=False)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f}s" if seconds < 60 else f"{int(seconds // 60)}m{seconds % 60:04.1f}s"
