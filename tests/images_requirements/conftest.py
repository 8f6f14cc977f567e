"""Fixtures of the image tests: a Docker engine (marker `docker`) and a wheelhouse holding
the base image's requirements and the locally installed pandas and pyarrow, so builds
need no network and the materializers' pins resolve."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.docker_engine import DockerSetup, docker_engine  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: needs a Docker engine (scripts/setup_docker.sh starts one); slow"
    )


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
