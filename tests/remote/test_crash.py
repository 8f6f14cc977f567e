"""A step killed with SIGKILL mid-upload leaves nothing a later run takes for an artifact."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from tests.remote.conftest import Bucket, Project
from zenml_kf.artifact_stores._remote import MARKER, ArtifactStoreError

PREFIX = "zenml"


def _wait_for_partial_upload(project: Project, bucket: Bucket, proc: object, log: object) -> list[str]:
    """Poll the bucket until some shards are there but no marker yet; the big file still uploads."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        keys = bucket.keys(f"{PREFIX}/crashy/")
        if any(k.endswith(MARKER) for k in keys):
            pytest.fail(f"the upload finished before it could be interrupted: {keys}")
        if any("/shard-" in k for k in keys):
            return keys
        if proc.poll() is not None:  # type: ignore[attr-defined]
            pytest.fail(f"the run ended before uploading: {open(log).read()}")  # type: ignore[call-overload]  # noqa: SIM115
        time.sleep(0.01)
    pytest.fail("no upload started within 90s")


def test_step_killed_mid_upload_leaves_no_complete_artifact(project: Project, bucket: Bucket) -> None:
    project.ok("artifact-store", "register", "bucket", *bucket.register_args(PREFIX))
    project.ok("stack", "register", "remote", "-o", "default", "-a", "bucket", "-m", "default", "--set")

    log = project.root / "killed-run.log"
    # A killed step cannot remove its local staging folder: keep it where the test can.
    tmp = project.root.parent / "run-tmp"
    tmp.mkdir()
    env = {"CRASH_BIG_MB": "200", "TMPDIR": str(tmp)}
    proc = project.popen("run", "crash_pipeline.py:p", env=env, log=log)
    try:
        keys = _wait_for_partial_upload(project, bucket, proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run's own process group: the step dies mid-write
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in tmp.iterdir() if p.name.startswith("zenml-kf-out-")], "no staging left?"
    shutil.rmtree(tmp)

    partial = sorted(set(bucket.keys(f"{PREFIX}/crashy/")) | set(keys))
    assert partial and not any(k.endswith(MARKER) for k in partial), partial
    uri = f"{bucket.scheme}://{bucket.name}/{partial[0].rsplit('/', 1)[0]}"
    store = project.repository().get_stack().artifact_store
    assert not store.exists(uri)
    with pytest.raises(ArtifactStoreError, match="incomplete"), store.reading(uri):
        pass
    killed = project.repository().get_pipeline("crashy").runs[-1]
    # Its process is gone, so reading the runs marks it failed (zenml_kf/metadata/stale_runs.py).
    assert killed.get_step("produce").status.value == "failed"
    assert killed.status.value == "failed"
    assert killed.get_step("produce").outputs == {}  # nothing was recorded for the half upload

    rerun = project.ok("run", "crash_pipeline.py:p", env={"CRASH_BIG_MB": "4"})
    assert "cached" not in rerun.err, rerun  # the half artifact was not reused
    runs = project.repository().get_pipeline("crashy").runs
    step = runs[-1].get_step("produce")
    assert step.status.value == "completed" and not step.is_cached
    new_uri = step.outputs["output"].uri
    assert new_uri != uri and store.exists(new_uri)
    with store.reading(new_uri) as folder:
        assert (folder / "big.bin").stat().st_size == 4 << 20
        assert len(list(folder.glob("shard-*.bin"))) == 12
    _empty(bucket)


def _empty(bucket: Bucket) -> None:
    from tests.remote.test_big_artifact import _empty as empty

    empty(bucket)
