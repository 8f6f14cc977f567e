"""Fixtures for remote stacks: real servers on loopback, projects, buckets, databases.

Servers are session-scoped (started once, on free ports, stopped by PID at the end);
buckets and databases are per test, so tests never see each other's artifacts or runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.remote import remote_servers as rs

ZENML = str(Path(sys.executable).parent / "zenml")
PIPELINES = Path(__file__).with_name("pipelines")

# Names of the env vars that hold test secrets: components store these names, never values.
S3_KEY_ENV, S3_SECRET_ENV = "ZT_S3_KEY", "ZT_S3_SECRET"
MYSQL_PASSWORD_ENV = "ZT_MYSQL_PASSWORD"


@pytest.fixture(autouse=True)
def _client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-process clients use dummy keys and never probe cloud metadata servers."""
    for key, value in rs.CLIENT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(S3_KEY_ENV, rs.CLIENT_ENV["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv(S3_SECRET_ENV, rs.CLIENT_ENV["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.setenv(MYSQL_PASSWORD_ENV, rs.MARIADB_PASSWORD)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


# --- servers ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[rs.Server]:
    server = rs.start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[rs.Server]:
    server = rs.start_fake_gcs()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[rs.Server]:
    server = rs.start_mariadb()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def grpc_mlmd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.Server]:
    server = rs.start_mlmd_grpc(tmp_path_factory.mktemp("mlmd-grpc") / "mlmd.db")
    yield server
    server.stop()


# --- buckets ------------------------------------------------------------------------------


def s3_client(server: rs.Server) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")


def gcs_client(server: rs.Server) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": server.endpoint},
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Bucket:
    """A fresh bucket on one of the servers, with what the tests need to look inside it."""

    flavor: str
    server: rs.Server
    name: str

    @property
    def scheme(self) -> str:
        return "s3" if self.flavor == "s3" else "gs"

    def keys(self, prefix: str = "") -> list[str]:
        if self.flavor == "s3":
            pages = (
                s3_client(self.server)
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.name, Prefix=prefix)
            )
            return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        return sorted(b.name for b in gcs_client(self.server).list_blobs(self.name, prefix=prefix))

    def register_args(self, prefix: str) -> list[str]:
        """`zenml artifact-store register NAME` settings for a store on this bucket."""
        if self.flavor == "s3":
            return [
                "--flavor",
                "s3",
                "--bucket",
                self.name,
                "--prefix",
                prefix,
                "--endpoint-url",
                self.server.endpoint,
                "--region",
                "us-east-1",
                "--path-style",
                "true",
                "--access-key-id-env",
                S3_KEY_ENV,
                "--secret-access-key-env",
                S3_SECRET_ENV,
            ]
        return [
            "--flavor",
            "gcp",
            "--path",
            f"gs://{self.name}/{prefix}",
            "--endpoint-url",
            self.server.endpoint,
            "--anonymous",
            "true",
        ]


def make_bucket(flavor: str, server: rs.Server) -> Bucket:
    # "bucket" in the name: GCS error texts quote it, which once fooled the store's 404 handling.
    name = unique("zt-bucket")
    if flavor == "s3":
        s3_client(server).create_bucket(Bucket=name)
    else:
        gcs_client(server).create_bucket(name)
    return Bucket(flavor, server, name)


@pytest.fixture(params=["s3", "gcp"])
def bucket(request: pytest.FixtureRequest) -> Bucket:
    """A new bucket on moto (s3) or fake-gcs-server (gcp)."""
    server = request.getfixturevalue("moto_server" if request.param == "s3" else "gcs_server")
    return make_bucket(request.param, server)


# --- projects and the CLI -----------------------------------------------------------------


@dataclass
class CLIResult:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def subprocess_env(extra: dict[str, str] | None = None, unset: list[str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZENML_KF_")}
    env.update(rs.CLIENT_ENV)
    env.update(
        {
            S3_KEY_ENV: rs.CLIENT_ENV["AWS_ACCESS_KEY_ID"],
            S3_SECRET_ENV: rs.CLIENT_ENV["AWS_SECRET_ACCESS_KEY"],
            MYSQL_PASSWORD_ENV: rs.MARIADB_PASSWORD,
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }
    )
    env.update(extra or {})
    for key in unset or []:
        env.pop(key, None)
    return env


@dataclass
class Project:
    """A git repository with `.zen/`, the test pipelines copied in, driven through the CLI."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        unset: list[str] | None = None,
        timeout: float = 240,
    ) -> CLIResult:
        proc = subprocess.run(
            [ZENML, *args],
            cwd=self.root,
            env=subprocess_env({**self.env, **(env or {})}, unset),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CLIResult(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, env: dict[str, str] | None = None, unset: list[str] | None = None) -> CLIResult:
        result = self.cli(*args, env=env, unset=unset)
        assert result.code == 0, result
        return result

    def popen(
        self, *args: str, env: dict[str, str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        return subprocess.Popen(
            [ZENML, *args],
            cwd=self.root,
            env=subprocess_env({**self.env, **(env or {})}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def python(self, code: str, env: dict[str, str] | None = None, timeout: float = 120) -> CLIResult:
        """Run `code` in a second, separate Python process inside the project."""
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root,
            env=subprocess_env({**self.env, **(env or {})}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CLIResult(proc.returncode, proc.stdout, proc.stderr)

    def repository(self) -> Any:
        from zenml_kf import Repository

        return Repository(self.root)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for source in PIPELINES.glob("*.py"):
        shutil.copy(source, root / source.name)
    monkeypatch.chdir(root)
    proj = Project(root)
    proj.ok("init")
    return proj


def assert_one_line_error(result: CLIResult, *fragments: str) -> str:
    """A user error: non-zero exit, exactly one line on stderr, no traceback, naming the fix."""
    assert result.code != 0, result
    assert "Traceback" not in result.err + result.out, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result
    assert lines[0].startswith("Error: "), result
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """google-api-core warns about the Python version on import; not ours to act on."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:You are using a Python version:FutureWarning"))
