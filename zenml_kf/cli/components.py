"""`zenml orchestrator|artifact-store|metadata-store register|list|describe|delete`."""

from typing import Annotated, Any

import typer

from zenml_kf.cli.output import Column, echo, print_mapping, print_table
from zenml_kf.exceptions import StackError
from zenml_kf.grammar import with_article
from zenml_kf.stack.types import ComponentType

_HELP = {
    ComponentType.ORCHESTRATOR: "Orchestrators: where pipelines run.",
    ComponentType.ARTIFACT_STORE: "Artifact stores: where artifact files live.",
    ComponentType.METADATA_STORE: "Metadata stores: where ML Metadata records live.",
}
_MORE = "Register, list, describe and delete them; 'list --flavors' shows the kinds."


def parse_settings(args: list[str]) -> dict[str, Any]:
    """`--max-workers 4 --path=/x` -> {'max_workers': '4', 'path': '/x'}; pydantic coerces types."""
    settings: dict[str, Any] = {}
    items = iter(args)
    for item in items:
        if not item.startswith("--") or item == "--":
            raise StackError(f"unexpected argument '{item}'; give settings as --key value")
        key, eq, value = item[2:].partition("=")
        if not eq:
            following = next(items, None)
            if following is None or following.startswith("--"):
                raise StackError(f"setting --{key} has no value; give it as --{key} VALUE")
            value = following
        settings[key.replace("-", "_")] = value
    return settings


def component_app(type_: ComponentType) -> typer.Typer:
    app = typer.Typer(help=f"{_HELP[type_]}\n\n{_MORE}", no_args_is_help=True, rich_markup_mode=None)
    label = type_.label
    a_label = with_article(label)

    @app.command(
        "register",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help=f"Register {a_label}.\n\nNAME --flavor F [--SETTING VALUE ...]; 'list --flavors' shows the flavors.",
    )
    def register(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help=f"Name of the new {label}.")],
        flavor: Annotated[str, typer.Option("--flavor", "-f", help="Flavor; see 'list --flavors'.")],
    ) -> None:
        from zenml_kf.repository import Repository

        Repository().register_component(type_, name, flavor, parse_settings(list(ctx.args)))
        echo(f"Registered {label} '{name}' (flavor {flavor}).")

    @app.command("list", help=f"List registered {label}s, or the available flavors.")
    def list_components(
        flavors: Annotated[bool, typer.Option("--flavors", help="List the flavors instead.")] = False,
    ) -> None:
        from zenml_kf.repository import Repository

        repo = Repository()
        if flavors:
            rows = [(n, repo.flavors.get(type_, n).description) for n in repo.flavors.names(type_)]
            print_table(f"{label} flavors", [Column("flavor", whole=True), "description"], rows)
            return
        active = repo.config.stacks.get(repo.active_stack_name)
        in_use = active.component(type_) if active else None
        rows2 = [
            (
                "*" if name == in_use else "",
                name,
                entry.flavor,
                ", ".join(f"{k}={v}" for k, v in entry.config.items()),
            )
            for name, entry in sorted(repo.config.components(type_).items())
        ]
        print_table(f"{label}s", ["active", Column("name", whole=True), "flavor", "settings"], rows2)

    @app.command(
        "describe",
        help=f"Show {a_label}'s effective settings.\n\nEnvironment overrides (ZENML_KF_*) applied.",
    )
    def describe(name: Annotated[str, typer.Argument(help=f"Name of the {label}.")]) -> None:
        from zenml_kf.repository import Repository

        print_mapping(f"{label} {name}", Repository().component(type_, name).describe())

    @app.command("delete", help=f"Delete {a_label} that no stack uses.")
    def delete(name: Annotated[str, typer.Argument(help=f"Name of the {label}.")]) -> None:
        from zenml_kf.repository import Repository

        Repository().delete_component(type_, name)
        echo(f"Deleted {label} '{name}'.")

    return app
