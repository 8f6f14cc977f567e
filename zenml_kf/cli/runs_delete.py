"""`zenml runs delete`: remove runs' records and, with --artifacts, their unshared artifacts.

Kept apart from `runs.py` (list/describe read; this writes) and registered there. The work
is `Repository.delete_runs`; this module asks for confirmation and prints one line a run.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from zenml_kf.cli.output import echo

if TYPE_CHECKING:
    from zenml_kf.metadata.deletion import DeletedRun


def delete_runs(
    run: Annotated[
        list[str],
        typer.Argument(help="Run ids (or unique prefixes of them).", show_default=False),
    ],
    artifacts: Annotated[
        bool,
        typer.Option(
            "--artifacts",
            help="Also remove the artifact files of the runs that no other run uses.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="Delete from this stack instead of the active one."),
    ] = None,
) -> None:
    """Delete runs from the stack's metadata store: their steps, events and the artifact
    records no other run uses (an artifact a later run reused from the cache is kept).

    A later run of the pipeline is never served from the cache of a deleted run. Runs still
    running are refused; in a terminal you are asked first unless --yes.
    """
    from zenml_kf.repository import Repository

    def ask(run_ids: list[str]) -> bool:
        if yes or not sys.stdin.isatty():
            return True
        what = "their records and unshared artifact files" if artifacts else "their records"
        question = f"Delete {_count(len(run_ids), 'run')} ({', '.join(run_ids)}) with {what}?"
        return typer.confirm(question, default=False)

    deleted = Repository().delete_runs(run, artifacts=artifacts, stack=stack, confirm=ask)
    if not deleted:
        echo("Nothing deleted.")
        raise typer.Exit(1)
    for one in deleted:
        echo(summary_line(one, artifacts))


def summary_line(deleted: DeletedRun, artifacts: bool) -> str:
    """One line for one deleted run: counts, and where artifact files were kept, why."""
    from rich.markup import escape

    parts = [_count(deleted.executions, "step"), _count(deleted.artifacts, "artifact record")]
    if deleted.kept:
        parts.append(f"{deleted.kept} shared artifact(s) kept")
    if artifacts:
        parts.append(f"{_count(len(deleted.removed_files), 'artifact folder')} removed")
        if deleted.left_files:
            parts.append(f"{len(deleted.left_files)} outside this stack's artifact store left")
    elif deleted.artifacts:
        parts.append("files kept (--artifacts removes them)")
    return f"Deleted run {escape(deleted.run_id)}: " + ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
