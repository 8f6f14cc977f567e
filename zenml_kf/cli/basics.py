"""`zenml init`, `zenml run` and `zenml version`."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zenml_kf.cli.output import echo, format_duration, shorten, width
from zenml_kf.grammar import plural

if TYPE_CHECKING:
    from zenml_kf.metadata.views import PipelineRunView
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.stack.stack import Stack


def init() -> None:
    """Start a zenml repository (.zen/) at this git root.

    It holds the stack registry and the default local stack.
    """
    from zenml_kf.repository import Repository

    repo = Repository.init()
    echo(f"Initialized a zenml repository in {repo.root / '.zen'} with the local stack 'default'.")
    echo("Commit .zen/config.yaml to share the stack registry; .zen/local_stores/ stays out of git.")


def run(
    target: Annotated[
        str,
        typer.Argument(help="Pipeline instance to run: path/to/file.py:attr or package.module:attr."),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML file overriding step parameters (steps: {NAME: {parameters: ...}}).",
        ),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="Run on this stack instead of the active one."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Kubeflow: run the steps in this pushed image instead of building one."),
    ] = None,
    build: Annotated[
        bool | None,
        typer.Option(
            "--build/--no-build",
            help="Kubeflow: build and push the step image (the default), or only name its content tag.",
        ),
    ] = None,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="Kubeflow: follow the run to its end; exit 0 only if it succeeded. Ctrl-C stops "
            "following (asking, in a terminal, whether to terminate the run).",
        ),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="Kubeflow: create a recurring run on this cron (five fields, '0 3 * * *', or KFP's six).",
        ),
    ] = None,
    every: Annotated[
        int | None, typer.Option("--every", help="Kubeflow: create a recurring run every N seconds.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Schedule: first trigger, ISO time (UTC when no zone).")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="Schedule: last trigger, ISO time.")] = None,
    catchup: Annotated[
        bool, typer.Option("--catchup/--no-catchup", help="Schedule: run missed intervals after a pause.")
    ] = True,
    max_concurrency: Annotated[
        int, typer.Option("--max-concurrency", help="Schedule: runs of it active at once (1-10).")
    ] = 1,
) -> None:
    """Run a pipeline on the active stack (or --stack).

    On a local stack it runs here, one line a step, then sums up. On a kubeflow stack it
    builds and pushes the step image, submits the run to KFP and prints its link in the UI.
    """
    from zenml_kf.cli.targets import load_pipeline
    from zenml_kf.repository import Repository

    repo = Repository()
    resolved = repo.get_stack(stack)  # fail on an unknown stack before importing user code
    recurring = None
    if schedule is not None or every is not None:
        from zenml_kf.orchestrators.schedule import make_schedule

        recurring = make_schedule(
            cron=schedule,
            interval_seconds=every,
            start=start,
            end=end,
            catchup=catchup,
            max_concurrency=max_concurrency,
        )
    from zenml_kf.orchestrators.kubeflow import as_kubeflow

    remote = as_kubeflow(resolved.orchestrator) is not None
    if not remote and (image is not None or build is not None or wait is not None):
        from zenml_kf.exceptions import StackError

        raise StackError(
            f"--image, --build and --wait apply to Kubeflow; stack '{resolved.name}' runs pipelines "
            "on this machine (pick a kubeflow stack with --stack)"
        )
    pipeline = load_pipeline(target, repo.root)
    if config is not None:
        pipeline = pipeline.with_config(config)
    if not remote:
        if recurring is not None:
            resolved.run(pipeline, repo, schedule=recurring)  # raises: no scheduler here
        _run_here(resolved, pipeline, repo)
        return
    submitted = resolved.run(
        pipeline, repo, image=image, build=build, wait=False, schedule=recurring, log=echo
    )
    from zenml_kf.cli.kubeflow_runs import report_submission

    report_submission(submitted, resolved, wait)


def _run_here(stack: Stack, pipeline: Pipeline, repo: Repository) -> None:
    """Run locally: the orchestrator logs a line a step as they go; then a short summary.

    The orchestrator's own closing line ("Run ... completed in ...") is held back, since the
    summary says it with the step counts; `Pipeline.run()` from Python keeps it.
    """
    import time

    from zenml_kf.exceptions import StepFailedError
    from zenml_kf.log import LOGGER_NAME, ensure_console_handler

    ensure_console_handler()
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        handler.addFilter(_without_run_end)
    started = time.perf_counter()
    try:
        run_view = stack.run(pipeline, repo)
    except StepFailedError as exc:
        if exc.run_id:
            _summarize_failure(stack, repo, exc.run_id, time.perf_counter() - started)
        raise
    except KeyboardInterrupt as exc:
        # The run is already recorded as failed; exit now rather than wait for step threads.
        # SIGTERM (RunTerminated) is handled alike, with the exit code a shell expects.
        terminated = type(exc).__name__ == "RunTerminated"
        what = "Terminated" if terminated else "Aborted"
        print(f"{what}: the run is recorded as failed.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(143 if terminated else 130)
    print_summary(run_view, time.perf_counter() - started)


def _without_run_end(record: logging.LogRecord) -> bool:
    from zenml_kf.orchestrators.local_run import RUN_END

    return not getattr(record, RUN_END, False)


def _summarize_failure(stack: Stack, repo: Repository, run_id: str, seconds: float) -> None:
    """The summary of a failed run, when its record can be read (the error follows anyway)."""
    from zenml_kf.exceptions import ZenMLKFError

    try:
        run_view = repo.metadata(stack.name).run(run_id)
    except ZenMLKFError:
        return
    print_summary(run_view, seconds)


MAX_ERRORS = 5


def print_summary(run: PipelineRunView, seconds: float) -> None:
    """What a finished local run comes to, in a few lines that fit the terminal: its status
    and wall time, step counts, failed steps' errors, and the command showing the rest."""
    from zenml_kf.metadata.views import ExecutionStatus
    from zenml_kf.secrets import redact

    steps = list(run.steps.values())
    count = {status: sum(1 for s in steps if s.status == status) for status in ExecutionStatus}
    status = run.status
    when = "in" if status == ExecutionStatus.COMPLETED else "after"
    parts = [
        f"{count[ExecutionStatus.COMPLETED]} ran",
        f"{count[ExecutionStatus.CACHED]} cached",
        f"{count[ExecutionStatus.FAILED]} failed",
    ]
    for other in (ExecutionStatus.CANCELED, ExecutionStatus.NOT_RUN, ExecutionStatus.RUNNING):
        if count[other]:
            parts.append(f"{count[other]} {other.value}")
    style = "green" if status == ExecutionStatus.COMPLETED else "red"
    echo(
        "Run ",
        (status.value, style),
        f" {when} {format_duration(seconds)}: {plural(len(steps), 'step')}, {', '.join(parts)}",
    )
    failed = [s for s in steps if s.error]
    for s in failed[:MAX_ERRORS]:
        error = " ".join(redact(s.error).split())
        echo("  ", (s.name, "red"), shorten(f": {error}", width() - 2 - len(s.name)))
    if len(failed) > MAX_ERRORS:
        echo(f"  and {len(failed) - MAX_ERRORS} more failed steps")
    command = f"zenml runs describe {run.id}"
    if len("Details: ") + len(command) <= width():
        echo("Details: ", command)
    else:  # the id stays whole on a line of its own rather than wrap
        echo("Details:")
        echo(f"  {command}")


def version() -> None:
    """Show the versions of zenml-kf, kfp and ml-metadata."""
    import platform
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    def of(name: str) -> str:
        try:
            return package_version(name)
        except PackageNotFoundError:
            return "not installed"

    echo(f"zenml-kf {of('zenml-kf')}")
    echo(f"python {platform.python_version()}, kfp {of('kfp')}, ml-metadata {of('ml-metadata')}")
