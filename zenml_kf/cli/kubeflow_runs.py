"""What `zenml run` says about a run it submitted to KFP, and following it with --wait."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from zenml_kf.cli.output import echo
from zenml_kf.cli.runs import DEFAULT_LIMIT

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


PAGE_SIZE = 100


def list_kfp_runs(
    conn: KFPConnection, pipeline: str | None, limit: int | None = None, status: str | None = None
) -> None:
    """KFP's runs (newest last), from the KFP API: the state KFP reports is the truth there.

    The status is filtered by KFP (a `state IN (...)` predicate, which v2beta1 supports since
    2.0); the pipeline is not a run field KFP filters on, so pages are read newest first
    until `limit` runs of it are found. Without a limit, the newest 100 are shown.
    """
    import json

    from zenml_kf.cli.output import Column, print_table
    from zenml_kf.orchestrators.kubeflow.run_sources import kfp_states

    pipeline_id = None
    if pipeline is not None:
        from zenml_kf.orchestrators.kubeflow.submit import find_pipeline

        pipeline_id = find_pipeline(conn, pipeline, conn.config.namespace)
        if pipeline_id is None:
            echo(f"No pipeline '{pipeline}' in KFP yet; 'zenml run' uploads it.")
            return
    wanted = limit or DEFAULT_LIMIT
    query_filter = None
    if status is not None:
        predicate = {"key": "state", "operation": "IN", "string_values": {"values": kfp_states(status)}}
        query_filter = json.dumps({"predicates": [predicate]})
    runs: list[Any] = []
    token = ""
    while len(runs) < wanted:
        found = conn.call(
            "listing runs",
            conn.client.list_runs,
            page_token=token,
            page_size=min(PAGE_SIZE, wanted) if pipeline_id is None else PAGE_SIZE,
            sort_by="created_at desc",
            namespace=conn.config.namespace,
            filter=query_filter,
        )
        runs += [
            r
            for r in found.runs or []
            if pipeline_id is None
            or getattr(r.pipeline_version_reference, "pipeline_id", None) == pipeline_id
        ]
        token = found.next_page_token or ""
        if not token:
            break
    more = len(runs) > wanted or bool(token)
    runs = runs[:wanted]
    if not runs:
        which = f" {status}" if status else ""
        echo(f"No{which} runs yet; start one with 'zenml run path/to/file.py:pipeline'.")
        return
    rows = [
        (
            r.display_name,
            str(r.state or "").lower(),
            r.created_at.strftime("%Y-%m-%d %H:%M") if hasattr(r.created_at, "strftime") else "-",
            conn.ui_url(f"runs/details/{r.run_id}"),
        )
        for r in reversed(runs)
    ]
    print_table(
        None,
        [Column("run", whole=True), "state", Column("created (UTC)", whole=True), Column("link", whole=True)],
        rows,
    )
    if more and limit is None:
        echo(f"Showing the newest {wanted}; --limit N shows more.")
