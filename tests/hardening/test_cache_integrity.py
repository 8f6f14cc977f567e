"""The cache reuses a step only when every output is whole in the current artifact store.

Damaged artifacts (a file deleted or truncated after publishing, an object removed from
under a bucket artifact's marker) and artifacts of another store recorded in a shared
metadata store are never served: the step runs again, and so does everything downstream.
Runs go through `zenml run` as a subprocess; the cost checks call the stores in-process.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.remote.conftest as remote
from tests.conftest import git_init, run_cli
from tests.remote.conftest import Bucket, Project, make_bucket, s3_client
from tests.remote.remote_servers import Server
from zenml_kf import Repository
from zenml_kf.artifact_stores.local import LocalArtifactStore, LocalArtifactStoreConfig
from zenml_kf.artifact_stores.manifest import MARKER

PIPELINE = textwrap.dedent(
    """
    from zenml_kf import pipeline, step


    @step
    def load() -> list:
        return list(range(100))


    @step
    def double(xs: list) -> list:
        return [2 * x for x in xs]


    @step
    def total(xs: list) -> int:
        return sum(xs)


    @pipeline
    def chain(load, double, total):
        total(double(load()))


    p = chain(load=load(), double=double(), total=total())
    """
)
STEPS = ("load", "double", "total")
TOTAL = 2 * sum(range(100))
remote_group = pytest.mark.xdist_group("remote-servers")

# The bucket servers and projects of tests/remote, shared by name with this module.
_client_env = remote._client_env
moto_server = remote.moto_server
gcs_server = remote.gcs_server
bucket = remote.bucket
project = remote.project


def _started(err: str) -> set[str]:
    return set(re.findall(r"▶ (\w+) started", err))


def _cached(err: str) -> set[str]:
    return set(re.findall(r"↻ (\w+) cached", err))


def _assert_steps(err: str, *, cached: set[str], started: set[str]) -> None:
    assert _cached(err) == cached and _started(err) == started, err


# --- the local store, through the CLI --------------------------------------------------------


@pytest.fixture
def local_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git_init(root)
    assert run_cli("init", cwd=root).code == 0
    (root / "chain.py").write_text(PIPELINE)
    return root


def _run(root: Path) -> str:
    result = run_cli("run", "chain.py:p", cwd=root)
    assert result.code == 0, result
    return result.err


def _last_run(root: Path) -> Any:
    return Repository(root).get_pipeline("chain").runs[-1]


def _folder(root: Path, step: str, run: int = -1) -> Path:
    return Path(Repository(root).get_pipeline("chain").runs[run].get_step(step).output.uri)


def test_intact_store_stays_fully_cached(local_project: Path) -> None:
    _assert_steps(_run(local_project), cached=set(), started=set(STEPS))
    for step in STEPS:
        assert (_folder(local_project, step) / MARKER).is_file()  # every published artifact is marked
    _assert_steps(_run(local_project), cached=set(STEPS), started=set())
    _assert_steps(_run(local_project), cached=set(STEPS), started=set())
    assert _last_run(local_project).get_step("total").output.read() == TOTAL


def test_deleted_file_reruns_the_step_and_its_descendants(local_project: Path) -> None:
    _run(local_project)
    (_folder(local_project, "double") / "data.json").unlink()
    err = _run(local_project)
    _assert_steps(err, cached={"load"}, started={"double", "total"})
    assert "cache of double skipped" in err and "missing or damaged" in err
    run = _last_run(local_project)
    assert run.get_step("double").output.read() == [2 * x for x in range(100)]
    assert run.get_step("total").output.read() == TOTAL
    _assert_steps(_run(local_project), cached=set(STEPS), started=set())  # the new outputs are whole


def test_truncated_file_reruns_the_step(local_project: Path) -> None:
    _run(local_project)
    data = _folder(local_project, "load") / "data.json"
    data.write_bytes(data.read_bytes()[:10])
    _assert_steps(_run(local_project), cached=set(), started=set(STEPS))
    assert _last_run(local_project).get_step("total").output.read() == TOTAL
    # A file that grew is as damaged as one that shrank.
    data = _folder(local_project, "total") / "data.json"
    data.write_bytes(data.read_bytes() + b" ")
    _assert_steps(_run(local_project), cached={"load", "double"}, started={"total"})


def test_artifact_without_marker_is_not_reused_but_still_reads(local_project: Path) -> None:
    """Artifacts published before the local store wrote markers: nothing says they are
    whole, so the cache does not reuse them; `.read()` still loads them."""
    _run(local_project)
    for step in STEPS:
        (_folder(local_project, step) / MARKER).unlink()
    old = _last_run(local_project)
    _assert_steps(_run(local_project), cached=set(), started=set(STEPS))
    assert old.get_step("total").output.read() == TOTAL
    assert old.get_step("double").output.read() == [2 * x for x in range(100)]


def test_new_artifact_store_with_the_same_metadata_store_reruns_everything(
    local_project: Path, tmp_path: Path
) -> None:
    _run(local_project)
    old_root = Repository(local_project).get_stack().artifact_store.root_uri
    fresh = tmp_path / "fresh-store"
    for args in (
        ("artifact-store", "register", "fresh", "--flavor", "local", "--path", str(fresh)),
        ("stack", "register", "moved", "-o", "default", "-a", "fresh", "-m", "default", "--set"),
    ):
        result = run_cli(*args, cwd=local_project)
        assert result.code == 0, result
    _assert_steps(_run(local_project), cached=set(), started=set(STEPS))
    run = _last_run(local_project)
    for step in STEPS:
        uri = run.get_step(step).output.uri
        assert uri.startswith(str(fresh) + os.sep) and not uri.startswith(old_root), uri
    assert run.get_step("total").output.read() == TOTAL
    _assert_steps(_run(local_project), cached=set(STEPS), started=set())


def test_local_store_holds_only_paths_under_its_root(tmp_path: Path) -> None:
    store = LocalArtifactStore("s", "local", LocalArtifactStoreConfig(path=str(tmp_path / "root")), tmp_path)
    root = store.root_uri
    assert store.holds(f"{root}/p/run/step/out")
    for foreign in (
        root,
        f"{root}-sibling/p/run/step/out",  # shares the root's text as a prefix
        f"{root}/../elsewhere/p/run/step/out",
        "s3://bucket/p/run/step/out",
        "gs://bucket/p/run/step/out",
        "relative/p/run/step/out",
    ):
        assert not store.holds(foreign), foreign
        assert not store.is_complete(foreign), foreign
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "root", target_is_directory=True)
    assert store.holds(f"{link}/p/run/step/out")  # the same folder, reached through a symlink


_OPENED: list[list[str]] = []  # while a test counts: the list its opened paths go to
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED[-1].append(os.fsdecode(args[0]))


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every file this process opens during the test, whichever API opens it."""
    if not _HOOKED:
        sys.addaudithook(_audit)  # a hook stays for the process; it is idle between tests
        _HOOKED.append(True)
    paths: list[str] = []
    _OPENED.append(paths)
    try:
        yield paths
    finally:
        _OPENED.remove(paths)


def _counting_stat(monkeypatch: pytest.MonkeyPatch, under: str) -> list[str]:
    """The local store's stat calls on paths under `under`."""
    calls: list[str] = []
    real: Callable[..., Any] = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path).startswith(under):
            calls.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr("zenml_kf.artifact_stores.local.os.stat", stat)
    return calls


def test_local_cache_check_stats_each_file_and_reads_only_the_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[str]
) -> None:
    store = LocalArtifactStore("s", "local", LocalArtifactStoreConfig(path=str(tmp_path / "root")), tmp_path)
    uri = store.artifact_uri("p", "run-1", "step", "out")
    with store.writing(uri) as folder:
        (folder / "nested").mkdir()
        for i in range(200):
            (folder / "nested" / f"part-{i}.bin").write_bytes(b"x" * i)
    assert store.is_complete(uri)

    opened.clear()
    stats = _counting_stat(monkeypatch, uri)
    assert store.is_complete(uri)
    assert [p for p in opened if p.startswith(uri)] == [
        f"{uri}/{MARKER}"
    ]  # the marker, and no data file, is read
    assert len(stats) == 200  # one stat per listed file
    opened.clear()
    stats.clear()

    os.truncate(Path(uri) / "nested" / "part-7.bin", 3)
    assert not store.is_complete(uri)
    (Path(uri) / "nested" / "part-7.bin").unlink()
    assert not store.is_complete(uri)
    (Path(uri) / "nested" / "part-7.bin").mkdir()  # a folder where a file was is no file
    assert not store.is_complete(uri)
    assert all(not path.endswith(".bin") for path in opened)


# --- bucket stores ----------------------------------------------------------------------------


def _use_bucket(project: Project, bucket: Bucket, name: str, prefix: str = "cache") -> None:
    project.ok("artifact-store", "register", name, *bucket.register_args(prefix))
    project.ok("stack", "register", f"on-{name}", "-o", "default", "-a", name, "-m", "default", "--set")


def _project_run(project: Project) -> str:
    (project.root / "chain.py").write_text(PIPELINE)
    return project.ok("run", "chain.py:p").err


def _key(bucket: Bucket, uri: str, name: str) -> str:
    prefix = f"{bucket.scheme}://{bucket.name}/"
    assert uri.startswith(prefix), uri
    return f"{uri[len(prefix) :]}/{name}"


@remote_group
def test_deleted_or_resized_s3_object_reruns_the_step(project: Project, moto_server: Server) -> None:
    s3 = make_bucket("s3", moto_server)
    _use_bucket(project, s3, "s3store")
    _assert_steps(_project_run(project), cached=set(), started=set(STEPS))
    _assert_steps(_project_run(project), cached=set(STEPS), started=set())  # intact: all cached

    client = s3_client(moto_server)
    run = project.repository().get_pipeline("chain").runs[-1]
    data = _key(s3, run.get_step("double").output.uri, "data.json")
    client.delete_object(Bucket=s3.name, Key=data)
    assert any(k.endswith(MARKER) for k in s3.keys(data.rsplit("/", 1)[0]))  # the marker stays
    err = _project_run(project)
    _assert_steps(err, cached={"load"}, started={"double", "total"})
    assert "cache of double skipped" in err
    run = project.repository().get_pipeline("chain").runs[-1]
    assert run.get_step("total").output.read() == TOTAL

    data = _key(s3, run.get_step("total").output.uri, "data.json")
    client.put_object(Bucket=s3.name, Key=data, Body=b"1")  # same name, other size
    _assert_steps(_project_run(project), cached={"load", "double"}, started={"total"})
    assert project.repository().get_pipeline("chain").runs[-1].get_step("total").output.read() == TOTAL


@remote_group
def test_switching_artifact_stores_never_serves_the_old_one(project: Project, moto_server: Server) -> None:
    """Local, then a bucket, then another bucket, all on one metadata store: each switch
    runs every step again into the new store; the old stores are left as they were."""
    (project.root / "chain.py").write_text(PIPELINE)
    _assert_steps(_project_run(project), cached=set(), started=set(STEPS))
    first, second = make_bucket("s3", moto_server), make_bucket("s3", moto_server)

    _use_bucket(project, first, "first")
    _assert_steps(_project_run(project), cached=set(), started=set(STEPS))
    first_keys = first.keys()
    assert sum(k.endswith(MARKER) for k in first_keys) == 3
    _assert_steps(_project_run(project), cached=set(STEPS), started=set())

    _use_bucket(project, second, "second", prefix="other")
    _assert_steps(_project_run(project), cached=set(), started=set(STEPS))
    assert first.keys() == first_keys, "nothing is written to, or served from, the old bucket"
    run = project.repository().get_pipeline("chain").runs[-1]
    for step in STEPS:
        assert run.get_step(step).output.uri.startswith(f"s3://{second.name}/other/")
    assert run.get_step("total").output.read() == TOTAL
    _assert_steps(_project_run(project), cached=set(STEPS), started=set())


@remote_group
def test_bucket_cache_check_is_one_marker_read_and_one_listing(
    project: Project, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_bucket(project, bucket, "store")
    store = project.repository().get_stack().artifact_store
    uri = store.artifact_uri("p", "run-1", "step", "out")
    with store.writing(uri) as folder:
        for i in range(60):
            (folder / f"part-{i}.bin").write_bytes(b"y" * (i + 1))

    calls: list[str] = []
    for name in ("_get", "_list_sizes", "_download"):
        real = getattr(store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(store, name, counted)
    assert store.is_complete(uri)
    assert calls == ["_get", "_list_sizes"], calls  # the marker, one listing; no object read

    key = store.key_of(uri)
    foreign = f"{bucket.scheme}://other-{bucket.name}/{key}"
    calls.clear()
    assert not store.is_complete(foreign) and calls == []  # another store's URI: not even asked
    if bucket.flavor == "s3":
        s3_client(bucket.server).put_object(Bucket=bucket.name, Key=f"{key}/part-3.bin", Body=b"")
        assert not store.is_complete(uri)
        s3_client(bucket.server).delete_object(Bucket=bucket.name, Key=f"{key}/part-3.bin")
    else:
        from tests.remote.conftest import gcs_client

        gcs_client(bucket.server).bucket(bucket.name).blob(f"{key}/part-3.bin").delete()
    assert not store.is_complete(uri)
    assert store.exists(uri)  # `exists()` stays the cheap marker check for other callers
