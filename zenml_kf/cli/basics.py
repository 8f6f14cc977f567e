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
) -> None:
    """Run a pipeline on the active stack (or --stack) and show its steps."""
    from zenml_kf.cli.runs import print_run
    from zenml_kf.cli.targets import load_pipeline
    from zenml_kf.repository import Repository

    repo = Repository()
    repo.get_stack(stack)  # fail on an unknown stack before importing user code
    pipeline = load_pipeline(target, repo.root)
    if config is not None:
        pipeline = pipeline.with_config(config)
    try:
        run_view = repo.get_stack(stack).run(pipeline, repo)
    except KeyboardInterrupt:
        # The run is already recorded as failed; exit now rather than wait for step threads.
        print("Aborted: the run is recorded as failed.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    print_run(run_view)


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
