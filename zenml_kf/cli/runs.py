"""`zenml runs list|describe`: what ran, from the stack's ML Metadata store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from zenml_kf.cli.output import echo, format_duration, print_table

if TYPE_CHECKING:
    from zenml_kf.metadata.views import PipelineRunView

app = typer.Typer(
    help="Inspect pipeline runs recorded in the stack's metadata store.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

StackOption = Annotated[
    str | None,
    typer.Option("--stack", "-s", help="Read the runs of this stack instead of the active one."),
]


@app.command("list")
def list_runs(
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-p", help="Only runs of this pipeline.")
    ] = None,
    stack: StackOption = None,
) -> None:
    """List runs, newest last, with their status and how many steps were cached.

    On a kubeflow stack: the runs KFP knows, with their state and link in the KFP UI.
    """
    from zenml_kf.orchestrators.kubeflow import as_kubeflow
    from zenml_kf.repository import Repository

    repo = Repository()
    kubeflow = as_kubeflow(repo.get_stack(stack).orchestrator)
    if kubeflow is not None:
        from zenml_kf.cli.kubeflow_runs import list_kfp_runs

        list_kfp_runs(kubeflow.connect(), pipeline)
        return
    from zenml_kf.exceptions import NothingRecordedError

    try:
        runs = repo.metadata(stack).runs(pipeline)
    except NothingRecordedError as exc:
        echo(f"No runs yet ({exc}); start one with 'zenml run path/to/file.py:pipeline'.")
        return
    rows = []
    for run in runs:
        steps = run.steps.values()
        cached = sum(1 for s in steps if s.is_cached)
        rows.append(
            (
                run.id,
                run.pipeline_name,
                run.status.value,
                run.created.strftime("%Y-%m-%d %H:%M:%S"),
                f"{len(steps)} ({cached} cached)",
            )
        )
    if not rows:
        echo("No runs yet; start one with 'zenml run path/to/file.py:pipeline'.")
        return
    print_table("Runs", ["run", "pipeline", "status", "created (UTC)", "steps"], rows)


@app.command("describe")
def describe_run(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix of it).")],
    stack: StackOption = None,
) -> None:
    """Show a run's steps (status, cache, duration) and the artifacts they produced."""
    from zenml_kf.repository import Repository

    print_run(Repository().metadata(stack).run(run))


def print_run(run: PipelineRunView) -> None:
    # Parameters, errors and settings are shown through `redact`: a step's error or a
    # parameter may quote a key or a URL with credentials, and a terminal is often shared.
    from zenml_kf.secrets import redact

    git = run.git_commit[:12] if run.git_commit else "unknown"
    if run.git_dirty:
        git += " (uncommitted changes)"
    echo(
        f"Run [bold]{run.id}[/bold] of pipeline {run.pipeline_name}: {run.status.value}"
        f"\nstack {redact(str(run.stack.get('name', '?')))}, git {git}"
    )
    steps = list(run.steps.values())
    print_table(
        "Steps",
        ["step", "status", "cached", "duration", "parameters", "outputs"],
        [
            (
                s.name,
                s.status.value,
                "yes" if s.is_cached else "no",
                format_duration(s.duration),
                redact(", ".join(f"{k}={v}" for k, v in s.parameters.items())),
                ", ".join(f"{n}: {a.data_type}" for n, a in s.outputs.items()),
            )
            for s in steps
        ],
    )
    artifacts = [(s.name, n, a) for s in steps for n, a in s.outputs.items()]
    if artifacts:
        print_table(
            "Artifacts",
            ["step", "output", "type", "materializer", "uri"],
            [
                (step, name, a.artifact_type, a.materializer.rpartition(":")[2], redact(a.uri))
                for step, name, a in artifacts
            ],
        )
    failed = [s for s in steps if s.error]
    for s in failed:
        echo(f"[red]{s.name}[/red]: {redact(s.error)}")
