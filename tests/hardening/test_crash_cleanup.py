"""Killed runs: marked failed by the next command, their leftovers freed by `zenml clean`."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.remote import conftest as remote
from tests.remote.conftest import Bucket, Project, make_bucket, s3_client

_client_env = remote._client_env  # the remote tests' fixtures
moto_server = remote.moto_server
project = remote.project

SLOW = '''
import os, time
from pathlib import Path
from zenml_kf import BaseMaterializer, pipeline, step


class Blob:
    pass


class SlowMaterializer(BaseMaterializer):
    """Writes 3 MiB, says so in READY_FILE, then hangs until killed."""

    def save(self, data: Blob, path: Path) -> None:
        with open(path / "big.bin", "wb") as f:
            f.write(os.urandom(3 << 20))
        Path(os.environ["READY_FILE"]).write_text("ready")
        time.sleep(120)

    def load(self, path: Path, data_type: type) -> Blob:
        return Blob()


@step(output_materializers={"output": SlowMaterializer})
def produce() -> Blob:
    return Blob()


@pipeline
def slowpoke(produce):
    produce()


p = slowpoke(produce())
'''


def _start_and_wait(project: Project, tmp: Path, sig: signal.Signals | None = None) -> int:
    """Start a slow run, wait until its step writes, send `sig` (SIGKILL by default)."""
    (project.root / "slow_pipeline.py").write_text(SLOW)
    ready = project.root.parent / "ready"
    ready.unlink(missing_ok=True)
    log = project.root.parent / "run.log"
    proc = project.popen(
        "run", "slow_pipeline.py:p", env={"READY_FILE": str(ready), "TMPDIR": str(tmp)}, log=log
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)
    if sig is None:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, sig)
    code = proc.wait(timeout=30)
    if sig is not None:
        assert log.read_text().strip().splitlines()[-1] == "Terminated: the run is recorded as failed.", (
            log.read_text()
        )
    return code


def test_killed_local_run_is_marked_failed_and_cleaned(project: Project) -> None:
    tmp = project.root.parent / "run-tmp"
    tmp.mkdir()
    assert _start_and_wait(project, tmp) == -signal.SIGKILL
    artifacts = project.root / ".zen" / "local_stores" / "artifacts"
    partial = list(artifacts.glob("slowpoke/*/produce/.output.partial-*"))
    assert len(partial) == 1 and (partial[0] / "big.bin").stat().st_size == 3 << 20

    listed = project.ok("runs", "list")
    assert "failed" in listed.out and "running" not in listed.out, listed
    run = project.repository().get_pipeline("slowpoke").runs[-1]
    step = run.get_step("produce")
    assert run.status.value == "failed" and step.status.value == "failed"
    assert "is gone" in step._execution.custom_properties["error"].string_value

    dry = project.ok("clean", "--dry-run")
    assert "Would remove 1 leftover" in dry.out and "3.0 MiB" in dry.out, dry
    assert partial[0].exists()
    done = project.ok("clean")
    assert "Removed 1 leftover" in done.out, done
    assert not partial[0].exists()
    assert "Removed 0 leftover" in project.ok("clean").out


def test_sigterm_records_the_run_and_exits_143(project: Project) -> None:
    tmp = project.root.parent / "run-tmp"
    tmp.mkdir()
    assert _start_and_wait(project, tmp, signal.SIGTERM) == 143
    run = project.repository().get_pipeline("slowpoke").runs[-1]
    assert run.status.value == "failed"
    assert run.get_step("produce").status.value == "canceled"


def test_killed_s3_run_leftovers_are_cleaned(project: Project, moto_server: object) -> None:
    bucket: Bucket = make_bucket("s3", moto_server)  # type: ignore[arg-type]
    project.ok("artifact-store", "register", "bucket", *bucket.register_args("zenml"))
    project.ok("stack", "register", "remote", "-o", "default", "-a", "bucket", "-m", "default", "--set")
    tmp = project.root.parent / "run-tmp"
    tmp.mkdir()
    assert _start_and_wait(project, tmp) == -signal.SIGKILL
    assert [p.name for p in tmp.iterdir() if p.name.startswith("zenml-kf-out-")]
    run_id = project.repository().get_pipeline("slowpoke").runs[-1].id  # reaped on this read
    # What the killed upload would have left: objects without a marker, an unfinished multipart.
    client = s3_client(bucket.server)
    folder = f"zenml/slowpoke/{run_id}/produce/output"
    client.put_object(Bucket=bucket.name, Key=f"{folder}/shard-00.bin", Body=b"x" * 1000)
    upload = client.create_multipart_upload(Bucket=bucket.name, Key=f"{folder}/big.bin")
    client.upload_part(
        Bucket=bucket.name,
        Key=f"{folder}/big.bin",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"y" * (1 << 20),
    )
    assert project.repository().get_pipeline("slowpoke").runs[-1].status.value == "failed"

    env = {"TMPDIR": str(tmp)}
    dry = project.ok("clean", "--dry-run", "--older-than", "0", env=env)
    assert "Would remove 3 leftover" in dry.out, dry
    assert bucket.keys(folder)
    done = project.ok("clean", "--older-than", "0", env=env)
    assert "Removed 3 leftover" in done.out and "1.0 MiB" in done.out, done
    assert bucket.keys(folder) == []
    assert client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []) == []
    assert not [p for p in tmp.iterdir() if p.name.startswith("zenml-kf-out-")]


def test_live_runs_leftovers_are_kept(project: Project) -> None:
    """A partial folder of an unknown run younger than the grace period stays."""
    young = (
        project.root / ".zen" / "local_stores" / "artifacts" / "p" / "r" / "s" / ".output.partial-abcd1234"
    )
    young.mkdir(parents=True)
    (young / "f").write_bytes(b"1")
    assert "Would remove 0 leftover" in project.ok("clean", "--dry-run").out
    assert "Would remove 1 leftover" in project.ok("clean", "--dry-run", "--older-than", "0").out
