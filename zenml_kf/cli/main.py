"""The `zenml` command. Every module on this path imports only typer at the top, so
`zenml --help` stays fast; each command imports what it needs when it runs."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup

from zenml_kf.cli import basics, clean, runs, schedules, stack
from zenml_kf.cli import compile as compile_cli
from zenml_kf.cli.components import component_app
from zenml_kf.exceptions import ZenMLKFError
from zenml_kf.interpreter_exit import collect_once_at_exit
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


class _UsageArgument(TyperArgument):
    """An argument shown in usage lines as `RUN` (`[NAME]` when optional), the way click
    and man pages write them, rather than typer's `{run}`."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or (self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return [name + ("..." if self.nargs != 1 else "")]


def plain_usage(command: Any) -> Any:
    """Name every argument in upper case, in usage lines and errors ("Missing argument 'RUN'"),
    and list every command by its whole first sentence, wrapped rather than cut with `...`."""
    if command.help and not command.short_help:
        first = command.help.strip().split("\n\n")[0]
        command.short_help = " ".join(first.split(". ")[0].split()).rstrip(".")
    for param in command.params:
        if isinstance(param, TyperArgument) and param.metavar is None:
            param.__class__ = _UsageArgument
            param.metavar = (param.name or "arg").upper()
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain_usage(sub)
    return command


def main() -> None:
    collect_once_at_exit()  # commands that load MLMD or kfp would spend ~30 ms leaving
    try:
        plain_usage(typer.main.get_command(app))()
    except ZenMLKFError as exc:
        print(f"Error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
