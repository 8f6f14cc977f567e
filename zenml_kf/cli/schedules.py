"""`zenml schedules list|pause|resume|delete`: the KFP recurring runs of a kubeflow stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from zenml_kf.cli.output import Column, echo, print_table

if TYPE_CHECKING:
    from zenml_kf.orchestrators.kubeflow.connection import KFPConnection

app = typer.Typer(
    help="Recurring runs on Kubeflow (zenml run --schedule CRON).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

StackOption = Annotated[
    str | None, typer.Option("--stack", "-s", help="A kubeflow stack [default: the active one].")
]
IdArgument = Annotated[str, typer.Argument(help="Recurring run id (see 'zenml schedules list').")]


def connect(stack: str | None) -> KFPConnection:
    """The KFP connection of a kubeflow stack; other stacks have no recurring runs."""
    from zenml_kf.exceptions import StackError
    from zenml_kf.orchestrators.kubeflow import as_kubeflow
    from zenml_kf.repository import Repository

    resolved = Repository().get_stack(stack)
    kubeflow = as_kubeflow(resolved.orchestrator)
    if kubeflow is None:
        raise StackError(
            f"stack '{resolved.name}' runs pipelines on this machine and has no schedules; "
            "pick a kubeflow stack with --stack"
        )
    return kubeflow.connect()


@app.command("list")
def list_schedules(stack: StackOption = None) -> None:
    """List recurring runs, their triggers and status."""
    conn = connect(stack)
    namespace = conn.config.namespace
    found = conn.call(
        "listing recurring runs", conn.client.list_recurring_runs, page_size=100, namespace=namespace
    )
    rows = [
        (
            r.recurring_run_id,
            r.display_name,
            str(r.status or "").lower(),
            _trigger(r.trigger),
            _when(r.created_at),
        )
        for r in found.recurring_runs or []
    ]
    if not rows:
        echo("No recurring runs; create one with 'zenml run TARGET --schedule \"0 3 * * *\"'.")
        return
    columns: list[str | Column] = [Column("id", whole=True), Column("name", whole=True), "status", "trigger"]
    print_table("Schedules", [*columns, Column("created (UTC)", whole=True)], rows)


@app.command("pause")
def pause(recurring_run_id: IdArgument, stack: StackOption = None) -> None:
    """Stop a recurring run from starting runs until it is resumed."""
    conn = connect(stack)
    conn.call(f"pausing {recurring_run_id}", conn.client.disable_recurring_run, recurring_run_id)
    echo(f"Paused recurring run {recurring_run_id}.")


@app.command("resume")
def resume(recurring_run_id: IdArgument, stack: StackOption = None) -> None:
    """Let a paused recurring run start runs again."""
    conn = connect(stack)
    conn.call(f"resuming {recurring_run_id}", conn.client.enable_recurring_run, recurring_run_id)
    echo(f"Resumed recurring run {recurring_run_id}.")


@app.command("delete")
def delete(recurring_run_id: IdArgument, stack: StackOption = None) -> None:
    """Delete a recurring run; the runs it started stay."""
    conn = connect(stack)
    conn.call(f"deleting {recurring_run_id}", conn.client.delete_recurring_run, recurring_run_id)
    echo(f"Deleted recurring run {recurring_run_id}.")


def _trigger(trigger: Any) -> str:
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None)
    if cron:
        return f"cron {cron}"
    interval = getattr(getattr(trigger, "periodic_schedule", None), "interval_second", None)
    return f"every {interval} s" if interval else "-"


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if hasattr(moment, "strftime") else str(moment or "-")
