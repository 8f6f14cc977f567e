"""What `zenml run` says about a run it submitted to KFP, and following it with --wait."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from zenml_kf.cli.output import echo

if TYPE_CHECKING:
    from zenml_kf.orchestrators.kubeflow.connection import KFPConnection
    from zenml_kf.orchestrators.kubeflow.orchestrator import KubeflowRun
    from zenml_kf.stack.stack import Stack


def report_submission(submitted: Any, stack: Stack, wait: bool | None) -> None:
    from zenml_kf.orchestrators.kubeflow.orchestrator import ScheduledRun

    version = submitted.version
    reused = "uploaded" if version.uploaded else "unchanged, reused"
    echo(f"Pipeline version {version.name} ({reused}).")
    if isinstance(submitted, ScheduledRun):
        echo(
            f"Scheduled recurring run {submitted.name} ({submitted.recurring_run_id}) on stack '{stack.name}'."
        )
        echo(f"KFP UI: {submitted.url}")
        echo("Pause, resume or delete it with 'zenml schedules pause|resume|delete ID'.")
        return
    echo(f"Submitted run {submitted.name} ({submitted.run_id}) on stack '{stack.name}'.")
    echo(f"KFP UI: {submitted.url}")
    follow = wait if wait is not None else bool(getattr(stack.orchestrator.config, "wait", False))
    if follow:
        _follow(submitted)


def _follow(run: KubeflowRun) -> None:
    from zenml_kf.orchestrators.kubeflow.connection import KubeflowError

    try:
        state = run.wait(report=echo)
    except KeyboardInterrupt:
        _interrupted(run)
        raise typer.Exit(130) from None
    if not state.succeeded:
        reason = f": {state.error}" if state.error else ""
        raise KubeflowError(f"run {run.name} ended {state.state}{reason}; see {run.url}")
    echo(f"Run {run.name} succeeded.")


def _interrupted(run: KubeflowRun) -> None:
    """Ctrl-C while following: in a terminal, ask whether to stop the run itself; else leave
    it running, as a run submitted without --wait is."""
    if sys.stdin.isatty():
        try:
            stop = typer.confirm(f"\nStopped following. Terminate run {run.name} in KFP too?", default=False)
        except (KeyboardInterrupt, typer.Abort):
            stop = False
        if stop:
            run.terminate()
            echo(f"Asked KFP to terminate run {run.run_id}.")
            return
    echo(f"Stopped following; run {run.run_id} goes on in KFP: {run.url}")


def list_kfp_runs(conn: KFPConnection, pipeline: str | None) -> None:
    """KFP's runs (newest last), from the KFP API: the state KFP reports is the truth there."""
    from zenml_kf.cli.output import print_table

    pipeline_id = None
    if pipeline is not None:
        from zenml_kf.orchestrators.kubeflow.submit import find_pipeline

        pipeline_id = find_pipeline(conn, pipeline, conn.config.namespace)
        if pipeline_id is None:
            echo(f"No pipeline '{pipeline}' in KFP yet; 'zenml run' uploads it.")
            return
    found = conn.call(
        "listing runs",
        conn.client.list_runs,
        page_size=100,
        sort_by="created_at desc",
        namespace=conn.config.namespace,
    )
    runs = [
        r
        for r in found.runs or []
        if pipeline_id is None or getattr(r.pipeline_version_reference, "pipeline_id", None) == pipeline_id
    ]
    if not runs:
        echo("No runs yet; start one with 'zenml run path/to/file.py:pipeline'.")
        return
    rows = [
        (
            r.display_name,
            str(r.state or "").lower(),
            r.created_at.strftime("%Y-%m-%d %H:%M:%S") if hasattr(r.created_at, "strftime") else "-",
            conn.ui_url(f"runs/details/{r.run_id}"),
        )
        for r in reversed(runs)
    ]
    print_table("Runs (KFP)", ["run", "state", "created (UTC)", "link"], rows)
