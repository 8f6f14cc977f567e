"""A store failing while a run is recorded: one line naming it and the cause, no RUNNING run."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

from tests.remote import conftest as remote
from tests.remote.conftest import ZENML, Project, subprocess_env

_client_env = remote._client_env  # the remote tests' fixtures
project = remote.project

PIPELINE = """
import os
from zenml_kf import BaseStepConfig, pipeline, step


class Cfg(BaseStepConfig):
    note: str = "x" * int(os.environ.get("NOTE_KB", "1")) * 1024


@step
def produce(config: Cfg) -> int:
    return len(config.note)


@pipeline
def storeful(produce):
    produce()


p = storeful(produce())
"""


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("Error: ")]


def _no_running(project: Project) -> None:
    listed = project.cli("runs", "list")
    assert "running" not in listed.out, listed


def test_artifact_store_path_is_a_file(project: Project) -> None:
    (project.root / "store_pipeline.py").write_text(PIPELINE)
    (project.root / "afile").write_text("not a folder")
    project.ok("artifact-store", "register", "f", "--flavor", "local", "--path", "afile")
    project.ok("stack", "register", "fs", "-o", "default", "-a", "f", "-m", "default", "--set")
    result = project.cli("run", "store_pipeline.py:p")
    assert result.code == 1, result
    [line] = _error_lines(result.err)
    assert str(project.root / "afile") in line and "Not a directory" in line, line
    assert len(result.err.splitlines()) <= 5, result
    _no_running(project)
    assert project.repository().get_pipeline("storeful").runs[-1].status.value == "failed"


def test_sqlite_under_a_file(project: Project) -> None:
    (project.root / "store_pipeline.py").write_text(PIPELINE)
    (project.root / "afile").write_text("not a folder")
    project.ok("metadata-store", "register", "m", "--flavor", "sqlite", "--uri", "afile/meta.db")
    project.ok("stack", "register", "ms", "-o", "default", "-a", "default", "-m", "m", "--set")
    result = project.cli("run", "store_pipeline.py:p")
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1, result
    assert "afile" in _error_lines(result.err)[0]
    _no_running(project)


def test_full_disk_while_recording(project: Project) -> None:
    """RLIMIT_FSIZE stops even root from growing metadata.db: a full disk, as MLMD sees it."""
    (project.root / "store_pipeline.py").write_text(PIPELINE)
    assert project.repository().get_stack().metadata_store.store is not None  # opening creates it
    db = project.root / ".zen" / "local_stores" / "metadata.db"
    limit = db.stat().st_size + 8192

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [ZENML, "run", "store_pipeline.py:p"],
        cwd=project.root,
        env=subprocess_env({"NOTE_KB": "600"}),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited,
    )
    assert proc.returncode == 1, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: cannot record the run in the metadata store at " + str(db)), lines
    assert "disk I/O error" in lines[0] and len(lines[0]) < 400
    _no_running(project)
    assert Path(db).exists()


BIG_OUTPUT = """
from zenml_kf import pipeline, step


@step
def big() -> bytes:
    return b"x" * (4 << 20)


@pipeline
def bigger(big):
    big()


p = bigger(big())
"""


def test_full_disk_while_writing_an_artifact(project: Project) -> None:
    """The disk fills while a materializer writes: one line naming the file, run failed."""
    (project.root / "big_pipeline.py").write_text(BIG_OUTPUT)
    assert project.repository().get_stack().metadata_store.store is not None
    db = project.root / ".zen" / "local_stores" / "metadata.db"
    limit = db.stat().st_size + (1 << 20)  # room for the records, not for a 4 MiB artifact

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [ZENML, "run", "big_pipeline.py:p"],
        cwd=project.root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited,
    )
    assert proc.returncode == 1, proc
    [line] = _error_lines(proc.stderr)
    assert "output 'output' of step 'big' could not be written to" in line and "File too large" in line, line
    assert "materializer" not in line  # not the materializer's fault
    _no_running(project)
