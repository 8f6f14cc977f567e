"""`zenml init`, `zenml run` and `zenml version`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from zenml_kf.cli.output import echo


def init() -> None:
    """Create .zen/ with the default local stack at the root of this git repository."""
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

    On a local stack it runs here and shows its steps. On a kubeflow stack it builds and
    pushes the step image, submits the run to KFP and prints its link in the KFP UI.
    """
    from zenml_kf.cli.runs import print_run
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
        try:
            run_view = resolved.run(pipeline, repo)
        except KeyboardInterrupt as exc:
            # The run is already recorded as failed; exit now rather than wait for step threads.
            # SIGTERM (RunTerminated) is handled alike, with the exit code a shell expects.
            terminated = type(exc).__name__ == "RunTerminated"
            what = "Terminated" if terminated else "Aborted"
            print(f"{what}: the run is recorded as failed.", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(143 if terminated else 130)
        print_run(run_view)
        return
    submitted = resolved.run(
        pipeline, repo, image=image, build=build, wait=False, schedule=recurring, log=echo
    )
    from zenml_kf.cli.kubeflow_runs import report_submission

    report_submission(submitted, resolved, wait)


def version() -> None:
    """Show the zenml-kf version and the pinned Kubeflow and ML Metadata libraries."""
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
