"""`remove(uri)` of every artifact store flavor, against the real folder or bucket server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.remote import remote_servers as rs
from tests.remote.conftest import S3_KEY_ENV, S3_SECRET_ENV, Project, make_bucket
from zenml_kf import Repository

pytestmark = [
    pytest.mark.xdist_group("remote-servers"),
    pytest.mark.filterwarnings("ignore:You are using a Python version:FutureWarning"),
]


@pytest.mark.parametrize("flavor", ["local", "s3", "gcp"])
def test_remove_takes_the_whole_artifact_and_nothing_else(
    flavor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    for key, value in rs.CLIENT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(S3_KEY_ENV, rs.CLIENT_ENV["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv(S3_SECRET_ENV, rs.CLIENT_ENV["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    project = Project(root)
    project.ok("init")
    listing: object = None
    if flavor != "local":
        server = request.getfixturevalue("moto_server" if flavor == "s3" else "gcs_server")
        bucket = make_bucket(flavor, server)
        project.ok("artifact-store", "register", "bucket", *bucket.register_args("zenml"))
        project.ok("stack", "register", "remote", "-o", "default", "-a", "bucket", "-m", "default", "--set")
        listing = bucket
    store = Repository(root).get_stack().artifact_store
    doomed = store.artifact_uri("demo", "run-1", "make", "a")
    neighbour = store.artifact_uri("demo", "run-1", "make", "b")
    for uri in (doomed, neighbour):
        with store.writing(uri) as folder:
            (folder / "data.json").write_text("[1, 2, 3]")
            (folder / "nested").mkdir()
            (folder / "nested" / "more.bin").write_bytes(b"\0" * 1000)
        assert store.is_complete(uri)

    store.remove(doomed)

    assert not store.exists(doomed) and not store.is_complete(doomed)
    assert store.is_complete(neighbour)
    with store.reading(neighbour) as folder:
        assert (folder / "data.json").read_text() == "[1, 2, 3]"
    if listing is None:
        assert not Path(doomed).exists() and Path(neighbour).is_dir()
        store.remove(neighbour)  # the last artifact of the run: its empty folders go too
        assert not (Path(store.root_uri) / "demo").exists()
    else:
        keys = listing.keys("zenml/")  # type: ignore[attr-defined]
        assert keys and all(k.startswith("zenml/demo/run-1/make/b/") for k in keys), keys
    store.remove(doomed)  # already gone: nothing to do, no error
