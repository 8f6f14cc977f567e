"""`zenml runs list` filters, run id prefixes, help and usage at 80 columns, `stack describe`."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_output.terminal import piped, too_wide
from tests.conftest import _clean_env, assert_clean_error, new_project, run_cli

PIPE = textwrap.dedent(
    """
    import os

    from zenml_kf import pipeline, step


    @step(enable_cache=False)
    def make() -> int:
        if os.environ.get("FAIL_MAKE"):
            raise RuntimeError("asked to fail")
        return 1


    @pipeline
    def demo(make):
        make()


    p = demo(make=make())
    """
)

RUN_ID = re.compile(r"\bdemo-\d{8}-\d{6}-[0-9a-f]{6}\b")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three runs of `demo`: completed, failed, completed (oldest first)."""
    root = new_project(tmp_path_factory.mktemp("runs"), {"pipe.py": PIPE})
    assert run_cli("run", "pipe.py:p", cwd=root).code == 0
    assert run_cli("run", "pipe.py:p", cwd=root, env={"FAIL_MAKE": "1"}).code == 1
    assert run_cli("run", "pipe.py:p", cwd=root).code == 0
    yield root


def listed(root: Path, *args: str) -> list[tuple[str, str]]:
    """(run id, status) of each row `zenml runs list ARGS` prints, in order."""
    code, out, err = piped("runs", "list", *args, cwd=root)
    assert code == 0, err
    assert too_wide(out) == [], out
    rows = []
    for line in out.splitlines():
        found = RUN_ID.search(line)
        if found:
            rows.append((found.group(0), line.split()[1]))
    return rows


def test_list_limit_and_status(project: Path) -> None:
    every = listed(project)
    assert [status for _, status in every] == ["completed", "failed", "completed"]
    assert listed(project, "--limit", "2") == every[1:]  # the newest two, newest last
    assert listed(project, "-n", "1", "--pipeline", "demo") == every[2:]
    assert listed(project, "--status", "failed") == [every[1]]
    assert listed(project, "--status", "COMPLETED", "--limit", "1") == [every[2]]
    code, out, _ = piped("runs", "list", "--status", "canceled", cwd=project)
    assert code == 0 and out.startswith("No canceled runs yet"), out


MANY = textwrap.dedent(
    """
    import sys
    from pipe import demo, make

    for _ in range(int(sys.argv[1])):
        demo(make=make()).run()
    """
)


def test_a_long_history_lists_the_newest_hundred_and_says_so(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"pipe.py": PIPE, "many.py": MANY})
    made = subprocess.run(
        [sys.executable, "many.py", "102"],
        cwd=root,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    every = listed(root, "--limit", "102")
    assert len(every) == 102 and len({run_id for run_id, _ in every}) == 102
    code, out, _ = piped("runs", "list", cwd=root)
    assert code == 0
    assert [RUN_ID.search(line).group(0) for line in out.splitlines() if RUN_ID.search(line)] == [
        run_id for run_id, _ in every[2:]
    ]
    assert out.rstrip().splitlines()[-1] == "Showing the newest 100 of 102 runs; --limit N shows more."
    code, out, _ = piped("runs", "list", "--limit", "101", cwd=root)
    assert code == 0 and "Showing" not in out


def test_bad_status_and_limit_are_one_line_errors(project: Path) -> None:
    assert_clean_error(
        run_cli("runs", "list", "--status", "done", cwd=project),
        "unknown run status 'done'",
        "running, completed, failed, canceled",
    )
    assert_clean_error(run_cli("runs", "list", "--limit", "0", cwd=project), "--limit must be 1 or more")


def test_describe_takes_a_unique_prefix(project: Path) -> None:
    ids = [run_id for run_id, _ in listed(project)]
    newest = ids[-1]
    prefix = next(
        newest[:n]
        for n in range(len("demo-"), len(newest))
        if sum(i.startswith(newest[:n]) for i in ids) == 1
    )
    code, out, err = piped("runs", "describe", prefix, cwd=project)
    assert code == 0, err
    assert out.splitlines()[0] == f"Run {newest}"
    ambiguous = run_cli("runs", "describe", "demo-", cwd=project)
    assert_clean_error(ambiguous, "'demo-' matches 3 runs", "give more of the run id", newest)
    assert_clean_error(run_cli("runs", "describe", "nope", cwd=project), "no run 'nope'", "zenml runs list")


def test_runs_list_in_a_narrow_terminal_keeps_ids_whole(project: Path) -> None:
    code, out, err = piped("runs", "list", cwd=project, columns=60)
    assert code == 0, err
    assert too_wide(out, 60) == [], out
    assert len(RUN_ID.findall(out)) == 3
    wide_code, wide, _ = piped("runs", "list", cwd=project, columns=120)
    assert wide_code == 0 and "created (UTC)" in wide and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", wide)


GROUPS = ["", "runs", "schedules", "stack", "image", "orchestrator", "artifact-store", "metadata-store"]


@pytest.mark.parametrize("group", GROUPS)
def test_help_lists_commands_without_cutting_them(group: str, tmp_path: Path) -> None:
    code, out, err = piped(*([group] if group else []), "--help", cwd=tmp_path)
    assert code == 0, err
    commands = out.split("Commands:")[1]
    assert "..." not in commands, commands
    assert too_wide(out) == [], out
    assert " a orchestrator" not in out and " a artifact" not in out


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["run"], "Usage: zenml run [OPTIONS] TARGET"),
        (["runs", "describe"], "Usage: zenml runs describe [OPTIONS] RUN"),
        (["stack", "describe", "--help"], "Usage: zenml stack describe [OPTIONS] [NAME]"),
    ],
)
def test_usage_names_arguments_in_capitals(args: list[str], usage: str, tmp_path: Path) -> None:
    code, out, err = piped(*args, cwd=tmp_path)
    assert code == (0 if "--help" in args else 2), out + err
    assert usage in out + err, out + err
    assert "{" not in out + err


def test_stack_describe_shows_where_the_default_stores_are(project: Path) -> None:
    code, out, err = piped("stack", "describe", cwd=project, columns=200)
    assert code == 0, err
    assert "None" not in out, out
    assert f"uri={project / '.zen' / 'local_stores' / 'metadata.db'}" in out
    assert f"path={project / '.zen' / 'local_stores' / 'artifacts'}" in out
