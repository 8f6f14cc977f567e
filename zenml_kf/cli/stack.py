"""`zenml stack register|list|describe|set|delete`."""

from __future__ import annotations

from typing import Annotated

import typer

from zenml_kf.cli.output import echo, print_table

app = typer.Typer(
    help="Stacks combine an orchestrator, an artifact store and a metadata store. The active one "
    "is in .zen/config.yaml; ZENML_KF_STACK overrides it for one shell.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: rendering it with rich costs ~0.1 s per call
)


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Name of the new stack.")],
    orchestrator: Annotated[
        str, typer.Option("--orchestrator", "-o", help="Registered orchestrator, or a flavor (kubeflow).")
    ],
    artifact_store: Annotated[
        str, typer.Option("--artifact-store", "-a", help="Registered artifact store, or a flavor.")
    ],
    metadata_store: Annotated[
        str, typer.Option("--metadata-store", "-m", help="Registered metadata store, or a flavor.")
    ],
    set_active: Annotated[bool, typer.Option("--set", help="Make it the active stack.")] = False,
) -> None:
    """Register a stack from registered components.

    A name that is not a registered component but a flavor (e.g. --orchestrator kubeflow)
    registers a component of that name from its ZENML_KF_<TYPE>_<SETTING> variables.
    A Kubeflow stack needs a bucket artifact store and a shared metadata store.
    """
    from zenml_kf.repository import Repository

    repo = Repository()
    for note in repo.register_stack(name, orchestrator, artifact_store, metadata_store, set_active):
        echo(f"Also {note}.")
    echo(f"Registered stack '{name}'{' and made it active' if set_active else ''}.")


@app.command("list")
def list_stacks() -> None:
    """List stacks; * marks the active one."""
    from zenml_kf.repository import Repository

    repo = Repository()
    active = repo.active_stack_name
    rows = [
        ("*" if name == active else "", name, e.orchestrator, e.artifact_store, e.metadata_store)
        for name, e in sorted(repo.config.stacks.items())
    ]
    print_table("Stacks", ["active", "name", "orchestrator", "artifact store", "metadata store"], rows)


@app.command("describe")
def describe(
    name: Annotated[str | None, typer.Argument(help="Stack name; the active stack if omitted.")] = None,
) -> None:
    """Show a stack's components and their effective settings."""
    from zenml_kf.repository import Repository

    stack = Repository().get_stack(name)
    rows = []
    for role, component in (
        ("orchestrator", stack.orchestrator),
        ("artifact store", stack.artifact_store),
        ("metadata store", stack.metadata_store),
    ):
        info = component.describe()
        settings = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("name", "flavor"))
        rows.append((role, info["name"], info["flavor"], settings))
    print_table(f"Stack {stack.name}", ["component", "name", "flavor", "settings"], rows)
    if stack.artifact_store.root_uri:
        echo(f"artifacts: {stack.artifact_store.root_uri}")


@app.command("set")
def set_stack(name: Annotated[str, typer.Argument(help="Stack to make active.")]) -> None:
    """Make a stack the active one for this repository."""
    from zenml_kf.repository import Repository

    Repository().set_active_stack(name)
    echo(f"Active stack: '{name}'.")


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Stack to delete (not the active one).")],
) -> None:
    """Delete a stack; its components stay registered."""
    from zenml_kf.repository import Repository

    Repository().delete_stack(name)
    echo(f"Deleted stack '{name}'.")
