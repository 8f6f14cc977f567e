"""Running the CLI as a user's terminal sees it: through a pseudo-terminal of a given size,
or with stdout a pipe; and measuring what it printed in display columns."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from rich.cells import cell_len

from tests.conftest import ZENML, _clean_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
STEP_LINE = re.compile(r"^  [▶✓↻✗-] ")


def in_pty(
    *args: str, cwd: Path, columns: int = 80, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str]:
    """Run `zenml ARGS` with stdin, stdout and stderr on a pseudo-terminal sized `columns`
    wide (COLUMNS set alike, as a shell does); returns the exit code and everything shown."""
    full_env = _env({"TERM": "xterm-256color", "COLUMNS": str(columns), **(env or {})})
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [ZENML, *args], cwd=cwd, env=full_env, stdin=slave, stdout=slave, stderr=slave, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed its side
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"zenml {' '.join(args)} did not finish in {timeout}s")
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def piped(
    *args: str, cwd: Path, columns: int = 80, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `zenml ARGS` with stdout and stderr pipes and COLUMNS set."""
    full_env = _env({"COLUMNS": str(columns), **(env or {})})
    proc = subprocess.run([ZENML, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def _env(extra: dict[str, str]) -> dict[str, str]:
    """The test environment without the caller's own NO_COLOR or COLUMNS, plus `extra`."""
    env = {k: v for k, v in _clean_env().items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    return {**env, **extra}


def visible_lines(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def too_wide(text: str, columns: int = 80) -> list[str]:
    """The lines wider than `columns` display columns once escape codes are removed."""
    return [line for line in visible_lines(text) if cell_len(line) > columns]


def after_step_lines(text: str) -> list[str]:
    """The lines shown after the last per-step status line (`  ✓ step completed ...`)."""
    lines = [line for line in visible_lines(text) if line.strip()]
    last = max((i for i, line in enumerate(lines) if STEP_LINE.match(line)), default=-1)
    assert last >= 0, f"no per-step line in:\n{text}"
    return lines[last + 1 :]
