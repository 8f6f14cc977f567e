"""MLMD on MySQL (MariaDB) and over gRPC, as full remote stacks driven through the CLI.

MySQL runs with an S3 artifact store (moto), gRPC with a GCS one (fake-gcs-server), so
each stack is local orchestrator + bucket + shared metadata store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.remote import remote_servers as rs
from tests.remote.conftest import (
    MYSQL_PASSWORD_ENV,
    Project,
    assert_one_line_error,
    make_bucket,
    unique,
)

READ_BACK = """
import json
from zenml_kf import Repository
runs = Repository().get_pipeline("example").runs
last = runs[-1]
print(json.dumps({
    "runs": [r.status.value for r in runs],
    "cached": [s.is_cached for s in last.steps.values()],
    "score": last.get_step("evaluator").output.read(),
    "model": type(runs[0].get_step("trainer").output.read()).__name__,
    "uri": runs[0].get_step("trainer").output.uri,
}))
"""


def mysql_args(server: rs.Server, database: str) -> list[str]:
    return [
        "--flavor",
        "mysql",
        "--host",
        rs.HOST,
        "--port",
        str(server.port),
        "--database",
        database,
        "--user",
        rs.MARIADB_USER,
        "--password-env",
        MYSQL_PASSWORD_ENV,
        "--connect-timeout-seconds",
        "3",
    ]


def grpc_args(server: rs.Server) -> list[str]:
    return [
        "--flavor",
        "grpc",
        "--host",
        rs.HOST,
        "--port",
        str(server.port),
        "--connect-timeout-seconds",
        "3",
    ]


@dataclass
class RemoteStack:
    flavor: str
    server: rs.Server
    bucket_scheme: str


@pytest.fixture
def own_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.Server]:
    """A gRPC MLMD server of this test alone (so its runs and cache are its own)."""
    server = rs.start_mlmd_grpc(tmp_path_factory.mktemp("grpc") / "mlmd.db")
    yield server
    server.stop()


@pytest.fixture(params=["mysql", "grpc"])
def remote_stack(request: pytest.FixtureRequest, project: Project) -> RemoteStack:
    """Registers and activates stack 'remote': mysql + s3 bucket, or grpc + gcs bucket."""
    if request.param == "mysql":
        server = request.getfixturevalue("mariadb")
        project.ok(
            "metadata-store",
            "register",
            "meta",
            *mysql_args(server, unique("mlmd").replace("-", "_")),
        )
        bucket = make_bucket("s3", request.getfixturevalue("moto_server"))
    else:
        server = request.getfixturevalue("own_grpc")
        project.ok("metadata-store", "register", "meta", *grpc_args(server))
        bucket = make_bucket("gcp", request.getfixturevalue("gcs_server"))
    project.ok("artifact-store", "register", "bucket", *bucket.register_args("zenml"))
    project.ok("stack", "register", "remote", "-o", "default", "-a", "bucket", "-m", "meta", "--set")
    return RemoteStack(request.param, server, bucket.scheme)


def test_example_runs_caches_and_is_readable_from_another_process(
    project: Project, remote_stack: RemoteStack
) -> None:
    project.ok("run", "example_pipeline.py:p")
    second = project.ok("run", "example_pipeline.py:p")
    assert second.err.count("cached") == 3, second

    other = project.python(READ_BACK)  # a second process, through the post-run API
    assert other.code == 0, other
    got = json.loads(other.out.strip().splitlines()[-1])
    assert got["runs"] == ["completed", "completed"]
    assert got["cached"] == [True, True, True]
    assert got["model"] == "LogisticRegression" and got["score"] > 0.9
    assert got["uri"].startswith(f"{remote_stack.bucket_scheme}://")

    listed = project.ok("runs", "list").out
    rows = [line.split() for line in listed.splitlines() if line.startswith("example-")]
    assert [(row[-2], row[-1]) for row in rows] == [("3", "0"), ("3", "3")], listed  # steps, cached


def test_stopped_server_is_a_fast_one_line_error(project: Project, request: pytest.FixtureRequest) -> None:
    for flavor in ("mysql", "grpc"):
        if flavor == "mysql":
            server = rs.start_mariadb()
            args = mysql_args(server, "mlmd")
        else:
            server = request.getfixturevalue("own_grpc")
            args = grpc_args(server)
        name = f"stopping-{flavor}"
        project.ok("metadata-store", "register", name, *args)
        project.ok("stack", "register", name, "-o", "default", "-a", "default", "-m", name)
        project.ok("run", "stress_pipeline.py:p", "--stack", name)
        server.stop()

        started = time.monotonic()
        listed = project.cli("runs", "list", "--stack", name)
        elapsed = time.monotonic() - started
        assert_one_line_error(
            listed,
            "cannot reach the metadata store",
            f"127.0.0.1:{server.port}",
            "Connection refused",
        )
        assert elapsed < 10, f"took {elapsed:.1f}s"
        assert_one_line_error(project.cli("run", "stress_pipeline.py:p", "--stack", name), "start the")


def test_mysql_wrong_password_is_a_one_line_error(project: Project, mariadb: rs.Server) -> None:
    project.ok("metadata-store", "register", "meta", *mysql_args(mariadb, "mlmd_pw"))
    project.ok("stack", "register", "my", "-o", "default", "-a", "default", "-m", "meta", "--set")
    project.ok("runs", "list")  # the right password works

    wrong = {MYSQL_PASSWORD_ENV: "not-the-password"}
    message = assert_one_line_error(
        project.cli("runs", "list", env=wrong), "refused user 'zenml'", f"${MYSQL_PASSWORD_ENV}"
    )
    assert "not-the-password" not in message
    assert_one_line_error(project.cli("run", "stress_pipeline.py:p", env=wrong), "wrong password")
    assert_one_line_error(
        project.cli("runs", "list", unset=[MYSQL_PASSWORD_ENV]), f"{MYSQL_PASSWORD_ENV} is not set"
    )


def test_mysql_password_from_secret_file(project: Project, mariadb: rs.Server) -> None:
    (project.root / "secrets").mkdir()
    (project.root / "secrets" / "mysql-password").write_text(rs.MARIADB_PASSWORD + "\n")
    args = mysql_args(mariadb, "mlmd_file")
    args[args.index("--password-env") : args.index("--password-env") + 2] = [
        "--password-file",
        "secrets/mysql-password",
    ]
    project.ok("metadata-store", "register", "meta", *args)
    project.ok("stack", "register", "my", "-o", "default", "-a", "default", "-m", "meta", "--set")
    project.ok("run", "stress_pipeline.py:p", unset=[MYSQL_PASSWORD_ENV])
    assert rs.MARIADB_PASSWORD not in (project.root / ".zen" / "config.yaml").read_text()


def test_silent_server_does_not_hang(project: Project) -> None:
    """Something accepts connections but never speaks (a wedged port-forward): bounded wait."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind((rs.HOST, 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        for flavor in ("mysql", "grpc"):
            args = [
                "--flavor",
                flavor,
                "--host",
                rs.HOST,
                "--port",
                str(port),
                "--connect-timeout-seconds",
                "2",
            ]
            project.ok("metadata-store", "register", f"silent-{flavor}", *args)
            project.ok(
                "stack",
                "register",
                f"silent-{flavor}",
                "-o",
                "default",
                "-a",
                "default",
                "-m",
                f"silent-{flavor}",
            )
            started = time.monotonic()
            result = project.cli("runs", "list", "--stack", f"silent-{flavor}", timeout=60)
            assert_one_line_error(result, "no answer within 2s")
            assert time.monotonic() - started < 15
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
