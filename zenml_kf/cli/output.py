"""Console helpers for the CLI: rich tables on stdout, one-line errors on stderr."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    _console().print(table)


def print_mapping(title: str, values: dict[str, Any]) -> None:
    print_table(title, ["setting", "value"], sorted(values.items()))


def echo(message: str) -> None:
    _console().print(message, highlight=False)


def _console() -> Any:
    """A console that does not squeeze tables to 80 columns when output is piped."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    return console


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f}s" if seconds < 60 else f"{int(seconds // 60)}m{seconds % 60:04.1f}s"
