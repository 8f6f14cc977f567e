"""Shared fixtures: a fresh git repository with `zenml init` done, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zenml_kf import Repository

ZENML = str(Path(sys.executable).parent / "zenml")


def _clean_env() -> dict[str, str]:
    # COLUMNS/LINES too: pytest-xdist workers set them, and piped CLI output is sized by them.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ZENML_KF_") and k not in ("COLUMNS", "LINES")
    }
    env.setdefault("GIT_AUTHOR_NAME", "test")
    env.setdefault("GIT_AUTHOR_EMAIL", "test@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "test")
    env.setdefault("GIT_COMMITTER_EMAIL", "test@example.com")
    return env


def git_init(path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True)


def new_project(parent: Path, files: dict[str, str] | None = None) -> Path:
    """A fresh git repository with `zenml init` done through the CLI, and `files` in it."""
    root = parent / "project"
    root.mkdir()
    git_init(root)
    assert run_cli("init", cwd=root).code == 0
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ZENML_KF_"):
            monkeypatch.delenv(key)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repository]:
    """A git repository with `.zen/` and the default local stack, as the working directory."""
    root = tmp_path / "project"
    root.mkdir()
    git_init(root)
    monkeypatch.chdir(root)
    yield Repository.init(root)


class CLIResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(
    *args: str, cwd: Path | str, env: dict[str, str] | None = None, timeout: float = 120
) -> CLIResult:
    """Run the installed `zenml` console script, as a user would."""
    full_env = _clean_env()
    full_env.update(env or {})
    proc = subprocess.run(
        [ZENML, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    return CLIResult(proc)


def python_json(root: Path, *args: str, timeout: float = 120) -> Any:
    """The JSON a Python process prints on its last line, run in `root` as a user would."""
    import json

    proc = subprocess.run(
        [sys.executable, *args], cwd=root, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def assert_clean_error(result: CLIResult, *fragments: str) -> None:
    """A user error: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.code != 0, result
    assert "Traceback" not in result.err and "Traceback" not in result.out, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines, result
    message = lines[-1]
    assert message.startswith("Error: "), result
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep tests that share a session-scoped server on one xdist worker.

    With `-n 2 --dist loadgroup` each group runs on a single worker, so a Docker engine or
    a database server is started once, not once per worker.
    """
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "remote" in parts:
            item.add_marker(pytest.mark.xdist_group("remote-servers"))
        elif "compiler" in parts and item.get_closest_marker("docker") is not None:
            item.add_marker(pytest.mark.xdist_group("docker"))
