"""The commit a run came from and whether the work tree had uncommitted changes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    commit: str | None
    dirty: bool | None


def git_state(root: Path) -> GitState:
    """One `git status` call gives both facts; no git, or no repository, gives unknowns."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain=v2", "--branch"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return GitState(None, None)
    if result.returncode != 0:
        return GitState(None, None)
    commit: str | None = None
    dirty = False
    for line in result.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            commit = None if oid == "(initial)" else oid
        elif line and not line.startswith("#"):
            dirty = True
    return GitState(commit, dirty)


def git_toplevel(path: Path) -> Path | None:
    """The root of the git work tree containing `path`, or None outside any."""
    try:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    return Path(result.stdout.strip()).resolve()
