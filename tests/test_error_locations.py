"""An error while importing the user's pipeline names the user's file and line, not pydantic's
or importlib's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_clean_error, new_project, run_cli

STEPS = """\
from zenml_kf import BaseStepConfig, step


class Cfg(BaseStepConfig):
    gamma: float = 1.0


@step
def make(config: Cfg) -> int:
    return 1
"""

BAD_VALUE = """\
from zenml_kf import pipeline
from pkg.steps import Cfg, make


@pipeline
def demo(make):
    pass


p = demo(make=make(config=Cfg(gamma="abc")))
"""

LIBRARY_RAISES = """\
import json

from zenml_kf import pipeline
from pkg.steps import make

SETTINGS = json.loads("{not json")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = new_project(tmp_path, {"main.py": BAD_VALUE, "lib.py": LIBRARY_RAISES})
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "steps.py").write_text(STEPS)
    (root / "pkg" / "broken.py").write_text("X = 1\n\n\ndef f(:\n    pass\n")
    (root / "syntax.py").write_text("from zenml_kf import pipeline\nimport pkg.broken\n")
    return root


@pytest.mark.parametrize("command", ["run", "compile"])
def test_a_bad_parameter_value_names_the_users_line(project: Path, command: str) -> None:
    result = run_cli(command, "main.py:p", cwd=project)
    assert_clean_error(
        result,
        "ValidationError for Cfg: gamma: Input should be a valid number",
        "at main.py:10;",
    )
    assert "errors.pydantic.dev" not in result.err


def test_a_syntax_error_names_the_module_and_line_the_parser_stopped_at(project: Path) -> None:
    assert_clean_error(
        run_cli("run", "syntax.py:p", cwd=project),
        "failed with SyntaxError: invalid syntax at pkg/broken.py:4;",
    )


def test_an_error_raised_inside_a_library_names_the_users_call(project: Path) -> None:
    assert_clean_error(run_cli("run", "lib.py:p", cwd=project), "JSONDecodeError", "at lib.py:6;")
