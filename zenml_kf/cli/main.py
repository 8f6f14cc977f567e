"""The `zenml` command. Every module on this path imports only typer at the top, so
`zenml --help` stays fast; each command imports what it needs when it runs."""

from __future__ import annotations

import sys

import typer

from zenml_kf.cli import basics, clean, runs, schedules, stack
from zenml_kf.cli import compile as compile_cli
from zenml_kf.cli.components import component_app
from zenml_kf.exceptions import ZenMLKFError
from zenml_kf.stack.types import ComponentType

app = typer.Typer(
    name="zenml",
    help="ML pipelines as plain Python functions: run them locally, compile them to Kubeflow Pipelines.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: rendering it with rich costs ~0.1 s per call
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(basics.init)
app.command("run")(basics.run)
app.command("version")(basics.version)
app.command("clean")(clean.clean)
app.add_typer(runs.app, name="runs")
app.add_typer(schedules.app, name="schedules")
app.add_typer(stack.app, name="stack")
app.command("compile")(compile_cli.compile_command)
app.add_typer(compile_cli.image_app, name="image")
for _type in ComponentType:
    app.add_typer(component_app(_type), name=_type.cli_name)


MESSAGE_LIMIT = 1000


def one_line(error: BaseException) -> str:
    """The error as one line: a user's exception text can be long or span lines (the step's
    log has it whole)."""
    text = " ".join(str(error).split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def main() -> None:
    try:
        app()
    except ZenMLKFError as exc:
        print(f"Error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
