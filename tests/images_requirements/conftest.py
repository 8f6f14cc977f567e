"""Fixtures of the image tests: a Docker engine (marker `docker`) and a wheelhouse holding
the base image's requirements and the locally installed pandas and pyarrow, so builds
need no network and the materializers' pins resolve."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: needs a Docker engine (scripts/setup_docker.sh starts one); slow"
    )


@dataclass
class DockerSetup:
    python_image: str
    started_pid: int | None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerSetup]:
    """A Docker daemon and the Python base image (scripts/setup_docker.sh, idempotent)."""
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
    if setup.started_pid is not None:  # stop only a daemon this session started
        subprocess.run(["kill", str(setup.started_pid)], check=False)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels") / "wheelhouse"
    pins = [f"{name}=={metadata.version(name)}" for name in ("pandas", "pyarrow")]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(folder), "-r", str(REPO / "images" / "requirements.txt"), *pins],
        check=True,
        timeout=600,
    )  # fmt: skip
    return folder
