"""The example pipeline on S3 (moto) and GCS (fake-gcs-server) artifact stores, via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.remote.conftest import Bucket, Project, assert_one_line_error, make_bucket
from tests.remote.remote_servers import Server
from zenml_kf.artifact_stores._remote import MARKER, ArtifactStoreError
from zenml_kf.exceptions import ZenMLKFError

PREFIX = "team/zenml"


def _register_stack(project: Project, bucket: Bucket) -> None:
    project.ok("artifact-store", "register", "bucket", *bucket.register_args(PREFIX))
    project.ok("stack", "register", "remote", "-o", "default", "-a", "bucket", "-m", "default", "--set")


def test_example_runs_lands_under_prefix_caches_and_reads_back(project: Project, bucket: Bucket) -> None:
    _register_stack(project, bucket)
    first = project.ok("run", "example_pipeline.py:p")
    assert "completed" in first.out

    keys = bucket.keys()
    assert keys, "nothing was uploaded"
    assert all(k.startswith(f"{PREFIX}/example/") for k in keys), keys
    markers = [k for k in keys if k.endswith(MARKER)]
    assert len(markers) == 4  # importer.x, importer.y, trainer.output, evaluator.output

    second = project.ok("run", "example_pipeline.py:p")
    assert second.err.count("cached") == 3, second
    assert bucket.keys() == keys, "a cached run must upload nothing"

    runs = project.repository().get_pipeline("example").runs
    assert len(runs) == 2
    assert all(step.is_cached for step in runs[-1].steps.values())
    first_run = runs[0]
    assert first_run.pipeline_root == f"{bucket.scheme}://{bucket.name}/{PREFIX}"
    model = first_run.get_step("trainer").output.read()
    x = first_run.get_step("importer").outputs["x"].read()
    y = first_run.get_step("importer").outputs["y"].read()
    assert x.shape == (500, 8) and y.dtype == np.int64
    score = runs[-1].get_step("evaluator").output.read()
    assert score == pytest.approx(model.score(x, y)) and score > 0.9
    uri = first_run.get_step("trainer").output.uri
    assert uri.startswith(f"{bucket.scheme}://{bucket.name}/{PREFIX}/example/")


def test_registry_holds_env_var_names_not_secrets(project: Project, bucket: Bucket) -> None:
    _register_stack(project, bucket)
    text = (project.root / ".zen" / "config.yaml").read_text()
    assert "zenml-test-secret" not in text and "zenml-test-key" not in text
    described = project.ok("artifact-store", "describe", "bucket").out
    assert "zenml-test-secret" not in described


def test_store_publishes_only_complete_artifacts_and_never_overwrites(
    project: Project, bucket: Bucket
) -> None:
    _register_stack(project, bucket)
    store = project.repository().get_stack().artifact_store
    uri = store.artifact_uri("p", "run-1", "step", "out")
    assert not store.exists(uri)

    with pytest.raises(RuntimeError), store.writing(uri) as folder:
        (folder / "data.bin").write_bytes(b"x" * 1000)
        raise RuntimeError("the step failed")
    assert not store.exists(uri) and bucket.keys(f"{PREFIX}/p/") == []

    files = {f"f{i}.txt": f"value {i}".encode() for i in range(40)}  # many small files, concurrently
    with store.writing(uri) as folder:
        (folder / "nested").mkdir()
        for name, data in files.items():
            (folder / "nested" / name).write_bytes(data)
    assert store.exists(uri)
    with store.reading(uri) as folder:
        assert {p.name: p.read_bytes() for p in (folder / "nested").iterdir()} == files
    manifest = json.loads(_object(bucket, f"{PREFIX}/p/run-1/step/out/{MARKER}"))
    assert len(manifest["files"]) == 40

    with pytest.raises(ArtifactStoreError, match="never overwritten"), store.writing(uri):
        pass
    foreign = f"{bucket.scheme}://other-bucket/x/y"
    assert not store.exists(foreign)  # another stack's artifact in a shared MLMD: not cached here
    with pytest.raises(ArtifactStoreError, match="is not in"), store.reading(foreign):
        pass


def _object(bucket: Bucket, key: str) -> bytes:
    from tests.remote.conftest import gcs_client, s3_client

    if bucket.flavor == "s3":
        body: bytes = s3_client(bucket.server).get_object(Bucket=bucket.name, Key=key)["Body"].read()
        return body
    data: bytes = gcs_client(bucket.server).bucket(bucket.name).blob(key).download_as_bytes()
    return data


def test_missing_bucket_is_a_one_line_error(project: Project, bucket: Bucket) -> None:
    args = bucket.register_args(PREFIX)
    missing = [a.replace(bucket.name, "no-such-bucket-zt") for a in args]
    project.ok("artifact-store", "register", "nobucket", *missing)
    project.ok("stack", "register", "broken", "-o", "default", "-a", "nobucket", "-m", "default", "--set")
    result = project.cli("run", "example_pipeline.py:p")
    assert result.code != 0 and "Traceback" not in result.err, result
    assert "bucket 'no-such-bucket-zt' does not exist" in result.err, result


def test_unset_credential_env_var_names_the_variable(project: Project, moto_server: Server) -> None:
    bucket = make_bucket("s3", moto_server)
    _register_stack(project, bucket)
    result = project.cli("run", "example_pipeline.py:p", unset=["ZT_S3_SECRET"])
    assert result.code != 0 and "Traceback" not in result.err, result
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "environment variable ZT_S3_SECRET is not set" in last, result


def test_secret_values_are_refused_as_settings(project: Project, moto_server: Server) -> None:
    bucket = make_bucket("s3", moto_server)
    args = bucket.register_args(PREFIX)
    args[args.index("--secret-access-key-env") + 1] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    result = project.cli("artifact-store", "register", "leaky", *args)
    assert_one_line_error(result, "secret_access_key_env", "not the secret itself")
    assert "wJalrXUtnFEMI" not in (project.root / ".zen" / "config.yaml").read_text()


def test_the_marker_sorts_last_and_the_first_marker_name_is_still_read(
    project: Project, bucket: Bucket, tmp_path: Path
) -> None:
    """The KFP launcher uploads an output folder in file-name order (`UploadBlob`,
    backend/src/v2/objectstore/object_store.go, KFP 2.5.0): the marker the entrypoint writes
    must come last. Artifacts published under the marker's first name still read."""
    from zenml_kf.artifact_stores.manifest import LEGACY_MARKER, write_marker

    _register_stack(project, bucket)
    store = project.repository().get_stack().artifact_store
    folder = tmp_path / "out"
    (folder / "zz-nested").mkdir(parents=True)
    (folder / "data.json").write_text("[1, 2]")
    (folder / "zz-nested" / "~tilde.txt").write_text("deep")
    (folder / "ZZ.bin").write_bytes(b"z")
    write_marker(folder, "out")
    assert sorted(p.name for p in folder.iterdir())[-1] == MARKER

    for marker_name, run in ((MARKER, "run-new"), (LEGACY_MARKER, "run-old")):
        uri = store.artifact_uri("p", run, "step", "out")
        key = store.key_of(uri)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            _put(bucket, f"{key}/{marker_name if rel == MARKER else rel}", path.read_bytes())
        assert store.exists(uri)
        with store.reading(uri) as read:
            assert json.loads((read / "data.json").read_text()) == [1, 2]
            assert (read / "zz-nested" / "~tilde.txt").read_text() == "deep"

    (folder / "~zz.txt").write_text("sorts after the marker")
    with pytest.raises(ZenMLKFError, match="reserved for the completion marker"):
        write_marker(folder, "out")


def _put(bucket: Bucket, key: str, data: bytes) -> None:
    from tests.remote.conftest import gcs_client, s3_client

    if bucket.flavor == "s3":
        s3_client(bucket.server).put_object(Bucket=bucket.name, Key=key, Body=data)
    else:
        gcs_client(bucket.server).bucket(bucket.name).blob(key).upload_from_string(data)
