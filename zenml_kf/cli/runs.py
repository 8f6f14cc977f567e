"""`zenml runs list|describe`: what ran, from the stack's ML Metadata store."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from zenml_kf.cli.output import Column, echo, format_duration, print_table, width

if TYPE_CHECKING:
    from zenml_kf.metadata.views import PipelineRunView

app = typer.Typer(
    help="List, inspect and delete the runs of a stack.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

StackOption = Annotated[
    str | None,
    typer.Option("--stack", "-s", help="Read the runs of this stack instead of the active one."),
]

DEFAULT_LIMIT = 100
"""Runs `zenml runs list` shows without --limit: a store keeps every run ever made, and
each listed run costs a read of its steps and a table row (about 1.5 ms)."""

RUN_STATUSES = ("running", "completed", "failed", "canceled")
"""The statuses a run can have (`ExecutionStatus` values; `cached` and `not run` are steps')."""


def check_status(status: str | None) -> str | None:
    """The `--status` value in canonical form, or a one-line error listing the valid ones."""
    if status is None:
        return None
    value = status.strip().lower()
    if value not in RUN_STATUSES:
        from zenml_kf.exceptions import ZenMLKFError

        raise ZenMLKFError(f"unknown run status '{status}'; use one of: {', '.join(RUN_STATUSES)}")
    return value


def check_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 1:
        from zenml_kf.exceptions import ZenMLKFError

        raise ZenMLKFError(
            f"--limit must be 1 or more (got {limit}); leave it out for the newest {DEFAULT_LIMIT}"
        )
    return limit


@app.command("list")
def list_runs(
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-p", help="Only runs of this pipeline.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            help=f"Only the newest N runs (default: the newest {DEFAULT_LIMIT}).",
            show_default=False,
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only runs in this status: {', '.join(RUN_STATUSES)}."),
    ] = None,
    stack: StackOption = None,
) -> None:
    """List runs, newest last, with their status and cached steps.

    On a kubeflow stack: the runs KFP knows, with their state and link in the KFP UI.
    """
    wanted = check_status(status)
    check_limit(limit)
    from zenml_kf.orchestrators.kubeflow import as_kubeflow
    from zenml_kf.repository import Repository

    repo = Repository()
    kubeflow = as_kubeflow(repo.get_stack(stack).orchestrator)
    if kubeflow is not None:
        from zenml_kf.cli.kubeflow_runs import list_kfp_runs

        list_kfp_runs(kubeflow.connect(), pipeline, limit=limit, status=wanted)
        return
    from zenml_kf.exceptions import NothingRecordedError

    try:
        runs = repo.metadata(stack).runs(pipeline)
    except NothingRecordedError as exc:
        echo(f"No runs yet ({exc}); start one with 'zenml run path/to/file.py:pipeline'.")
        return
    if wanted is not None:
        runs = [run for run in runs if run.status.value == wanted]
    shown = runs[-(limit or DEFAULT_LIMIT) :]
    if not shown:
        which = f" {wanted}" if wanted else ""
        echo(f"No{which} runs yet; start one with 'zenml run path/to/file.py:pipeline'.")
        return
    print_runs(shown)
    if limit is None and len(runs) > len(shown):
        echo(f"Showing the newest {len(shown)} of {len(runs)} runs; --limit N shows more.")


def print_runs(runs: list[PipelineRunView]) -> None:
    """One row a run. The pipeline column is left out when every run id starts with its
    pipeline's name (local runs are named `<pipeline>-<time>-<suffix>`), and the creation
    time loses its seconds, then its year, while the table is wider than the terminal."""
    rows = []
    for run in runs:
        steps = run.steps.values()
        rows.append(
            (
                run.id,
                run.pipeline_name,
                run.status.value,
                run.created,
                str(len(steps)),
                str(sum(1 for s in steps if s.is_cached)),
            )
        )
    named = all(run_id.startswith(f"{name}-") for run_id, name, *_ in rows)
    longest_id = max(len(row[0]) for row in rows)
    fixed = longest_id + (0 if named else 2 + max(len(row[1]) for row in rows))
    # status (9, "completed") + steps (5) + cached (6) and the gaps between the columns
    fixed += 9 + 5 + 6 + 2 * (3 if named else 4)
    layout: str | None = None
    for candidate in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m-%d %H:%M"):
        layout = candidate
        if fixed + 2 + len(runs[0].created.strftime(candidate)) <= width():
            break
    else:
        if named and all(_STAMPED.search(row[0]) for row in rows):
            layout = None  # local run ids carry their creation time: <pipeline>-<date>-<time>-<suffix>
    columns = [Column("run", whole=True), Column("pipeline", whole=True), Column("status", whole=True)]
    columns += [Column("created (UTC)", whole=True)] if layout else []
    columns += [Column("steps", whole=True), Column("cached", whole=True)]
    if named:
        columns.pop(1)
    print_table(
        None,
        columns,
        [
            (
                run_id,
                *([] if named else [name]),
                _status_text(state),
                *([created.strftime(layout)] if layout else []),
                steps,
                cached,
            )
            for run_id, name, state, created, steps, cached in rows
        ],
    )


_STAMPED = re.compile(r"-\d{8}-\d{6}-[0-9a-f]+$")


@app.command("describe")
def describe_run(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix of it).")],
    wide: Annotated[
        bool, typer.Option("--wide", help="Whole artifact URIs and materializers; lines may be long.")
    ] = False,
    stack: StackOption = None,
) -> None:
    """Show a run's steps and artifacts.

    Each step's status, duration and parameters; each artifact's type and URI.
    """
    from zenml_kf.repository import Repository

    print_run(Repository().metadata(stack).run(run), wide=wide)


def print_run(run: PipelineRunView, wide: bool = False) -> None:
    """The run's header, a table of steps and a table of artifacts.

    Unless `wide`, artifact URIs are shown relative to the run's folder in the artifact
    store, named once above the table (`<step>/<output>`, or `../<run>/<step>/<output>` for
    an artifact reused from an earlier run's cache), and types by their class name
    (`DataFrame`, not `pandas.core.frame.DataFrame`): the store's root and the run id
    repeated on every row are what pushed URIs over several lines.
    """
    # Parameters, errors and settings are shown through `redact`: a step's error or a
    # parameter may quote a key or a URL with credentials, and a terminal is often shared.
    from zenml_kf.secrets import redact

    git = run.git_commit[:12] if run.git_commit else "unknown"
    if run.git_dirty:
        git += " (uncommitted changes)"
    echo("Run ", (run.id, "bold"))
    echo(f"  pipeline {run.pipeline_name}, ", _status_text(run.status.value))
    echo(f"  stack {redact(str(run.stack.get('name', '?')))}, git {git}")
    echo(f"  created {run.created.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    steps = list(run.steps.values())
    print_table(
        "Steps",
        [Column("step", whole=True), "status", Column("duration", whole=True), "parameters"],
        [
            (
                s.name,
                _status_text(s.status.value),
                format_duration(s.duration),
                redact(", ".join(f"{k}={v}" for k, v in s.parameters.items())),
            )
            for s in steps
        ],
        wide=wide,
    )
    artifacts = [(s.name, n, a) for s in steps for n, a in s.outputs.items()]
    if artifacts:
        folder, shown, producers = ("", {}, []) if wide else _layout(run, [a.uri for *_, a in artifacts])
        title = "Artifacts"
        if folder:
            label = "Artifacts (in )"
            title = f"Artifacts (in {shorten_left(redact(folder), max(width() - len(label), 8))})"
        columns: list[str | Column] = ["step", "output", Column("type", whole=True)]
        if wide:
            columns += [Column("artifact type", whole=True), Column("materializer", whole=True)]
        print_table(
            title,
            [*columns, "uri"],
            [
                (
                    step,
                    name,
                    (a.data_type if wide else short_type(a.data_type)) or "-",
                    *([a.artifact_type, a.materializer.rpartition(":")[2]] if wide else []),
                    redact(shown.get(a.uri, a.uri)),
                )
                for step, name, a in artifacts
            ],
            wide=wide,
        )
        for number, producer in enumerate(producers, start=1):
            echo(f"({number}) reused from run {producer}")
    for s in steps:
        if s.error:
            echo((s.name, "red"), f": {redact(s.error)}", wrap=True)


def _layout(run: PipelineRunView, uris: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """The run's artifact folder (`<root>/<pipeline>/<run>`), each URI as shown relative to
    it, and the earlier runs whose folders hold artifacts this run reused.

    `<step>/<output>` is this run's own artifact; `<step>/<output> (N)` one in the folder of
    the N-th earlier run listed under the table, so no run id is ever cut across lines.
    URIs not laid out so (another store, a KFP pipeline root) are shown whole.
    """
    root = run.pipeline_root.rstrip("/")
    parsed = {}
    for uri in uris:
        if root and uri.startswith(root + "/"):
            parts = uri[len(root) + 1 :].split("/", 2)
            if len(parts) == 3:
                parsed[uri] = parts
    if not parsed:
        return "", {}, []
    pipeline_folder = next((p[0] for p in parsed.values() if p[1] == run.id), next(iter(parsed.values()))[0])
    producers: list[str] = []
    shown = {}
    for uri, (folder, producer, inside) in parsed.items():
        if folder != pipeline_folder:
            continue
        if producer == run.id:
            shown[uri] = inside
        else:
            if producer not in producers:
                producers.append(producer)
            shown[uri] = f"{inside} ({producers.index(producer) + 1})"
    return f"{root}/{pipeline_folder}/{run.id}", shown, producers


def short_type(data_type: str) -> str:
    """`pandas.core.frame.DataFrame` -> `DataFrame`, `dict[str, numpy.ndarray]` ->
    `dict[str, ndarray]`: module paths dropped, class names whole."""
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", data_type)


def shorten_left(path: str, limit: int) -> str:
    """`path` with its start cut to fit `limit` columns: a path's end says the most."""
    return path if len(path) <= limit else "…" + path[-(limit - 1) :]


_STATUS_STYLES = {"completed": "green", "cached": "cyan", "failed": "red", "canceled": "yellow"}


def _status_text(status: str) -> tuple[str, str]:
    return status, _STATUS_STYLES.get(status, "")


from zenml_kf.cli import runs_delete  # noqa: E402  (registered last: it imports nothing of this module)

app.command("delete")(runs_delete.delete_runs)
