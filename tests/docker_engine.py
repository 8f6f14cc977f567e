"""The Docker engine fixture the image tests share: one daemon and Python base image per
session (scripts/setup_docker.sh, idempotent), stopped only if this session started it.

Images the session builds or tags (base and step images, registry copies) are removed when
it ends: on the vfs storage driver each is a full copy of its file system, and a few
suites' worth fill a disk. Images that were there before, the Python base among them,
stay."""

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
    before = _images()
    yield setup
    made = sorted(_images() - before)
    if made:
        subprocess.run(["docker", "rmi", "--force", *made], capture_output=True, check=False, timeout=600)
        subprocess.run(["docker", "image", "prune", "--force"], capture_output=True, check=False, timeout=600)
    if setup.started_pid is not None:
        subprocess.run(["kill", str(setup.started_pid)], check=False)


def _images() -> set[str]:
    """Every image reference the engine holds: `repository:tag`, or the id of an untagged one."""
    listed = subprocess.run(
        ["docker", "images", "--all", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return {
        ref if not ref.startswith("<none>") else image_id
        for ref, image_id in (line.split() for line in listed.splitlines())
    }
