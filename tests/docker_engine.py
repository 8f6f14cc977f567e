"""The Docker engine fixture the image tests share: one daemon and Python base image per
session (scripts/setup_docker.sh, idempotent), stopped only if this session started it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class DockerSetup:
    python_image: str
    started_pid: int | None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerSetup]:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup_docker.sh")], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/setup_docker.sh failed:\n{proc.stderr[-3000:]}")
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    setup = DockerSetup(
        values["BASE_IMAGE"], int(values["DOCKERD_PID"]) if values.get("DOCKERD_PID") else None
    )
    yield setup
    if setup.started_pid is not None:
        subprocess.run(["kill", str(setup.started_pid)], check=False)
