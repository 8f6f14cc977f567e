"""`zenml runs delete` on shared stacks: ML Metadata in MariaDB with artifacts in S3 (moto),
and the gRPC service, which cannot delete.

The same guarantees as on the default stack: records gone from the database (read with
plain SQL), unshared objects gone from the bucket, shared ones kept, and no cache hit
from a deleted run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.remote import remote_servers as rs
from tests.remote.conftest import (
    MYSQL_PASSWORD_ENV,
    Bucket,
    Project,
    assert_one_line_error,
    make_bucket,
    unique,
)
from tests.remote.test_metadata_stores import grpc_args, mysql_args
from tests.runs_delete.conftest import RUN_ID
from tests.runs_delete.pipelines import PIPE, SUFFIX_CONFIG

pytestmark = pytest.mark.xdist_group("remote-servers")  # one MariaDB and moto per worker


class Shared:
    """A project on stack 'shared' (MariaDB + an S3 bucket), with SQL access to its database."""

    def __init__(self, project: Project, server: rs.Server, database: str, bucket: Bucket) -> None:
        self.project = project
        self.server = server
        self.database = database
        self.bucket = bucket

    def run(self, *args: str) -> str:
        result = self.project.ok("run", "pipe.py:p", *args)
        found = RUN_ID.search(result.out + result.err)
        assert found is not None, result
        return found.group(0)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import pymysql

        conn = pymysql.connect(
            host=rs.HOST,
            port=self.server.port,
            user=rs.MARIADB_USER,
            password=rs.MARIADB_PASSWORD,
            database=self.database,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def run_ids(self) -> set[str]:
        rows = self.query(
            "SELECT c.name FROM Context c JOIN Type t ON t.id = c.type_id WHERE t.name = 'system.PipelineRun'"
        )
        return {str(r[0]) for r in rows}

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM `{table}`")[0][0])

    def keys(self, run_id: str) -> set[str]:
        """Artifact folders (`<step>/<output>`) of a run in the bucket that have a marker."""
        found = set()
        for key in self.bucket.keys("zenml/"):
            match = re.fullmatch(rf"zenml/demo/{re.escape(run_id)}/([^/]+/[^/]+)/~zenml-artifact\.json", key)
            if match:
                found.add(match.group(1))
        return found


def new_shared_project(root: Path) -> Project:
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "pipe.py").write_text(PIPE)
    (root / "suffix.yaml").write_text(SUFFIX_CONFIG)
    project = Project(root)
    project.ok("init")
    return project


@pytest.fixture
def shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mariadb: rs.Server, moto_server: rs.Server
) -> Shared:
    for key, value in rs.CLIENT_ENV.items():  # the test's own S3 client
        monkeypatch.setenv(key, value)
    project = new_shared_project(tmp_path / "project")
    database = unique("mlmd").replace("-", "_")
    bucket = make_bucket("s3", moto_server)
    project.ok("metadata-store", "register", "meta", *mysql_args(mariadb, database))
    project.ok("artifact-store", "register", "bucket", *bucket.register_args("zenml"))
    project.ok("stack", "register", "shared", "-o", "default", "-a", "bucket", "-m", "meta", "--set")
    assert MYSQL_PASSWORD_ENV  # the stack reads its password from this variable, never .zen/
    return Shared(project, mariadb, database, bucket)


def test_delete_on_mysql_and_s3(shared: Shared) -> None:
    first = shared.run()
    second = shared.run("--config", "suffix.yaml")  # make cached from the first, use runs
    assert shared.keys(first) == {"make/a", "make/b", "use/output"}
    assert shared.keys(second) == {"use/output"}

    result = shared.project.ok("runs", "delete", first, "--artifacts")

    assert result.out.strip() == (
        f"Deleted run {first}: 2 steps, 1 artifact record, 2 shared artifact(s) kept, "
        "1 artifact folder removed"
    )
    assert shared.run_ids() == {second}
    assert shared.keys(first) == {"make/a", "make/b"}
    assert not [k for k in shared.bucket.keys(f"zenml/demo/{first}/use/")]
    read = shared.project.python(
        "from zenml_kf import Repository\n"
        f"run = Repository().get_run({second!r})\n"
        "print(run.get_step('use').output.read(), run.get_step('use').inputs['a'].read())"
    )
    assert read.code == 0 and read.out.split() == ["x1!", "1"], read

    # Records only: the files of the third run stay whole, yet the next run is not served
    # from it.
    third = shared.run()
    assert shared.project.ok("runs", "delete", third, "--yes").code == 0
    assert shared.keys(third) == {"make/a", "make/b", "use/output"}
    fourth = shared.run()
    steps = shared.project.python(
        "from zenml_kf import Repository\n"
        f"print([s.is_cached for s in Repository().get_run({fourth!r}).steps.values()])"
    )
    assert steps.out.strip() == "[False, False]", steps

    unknown = shared.project.cli("runs", "delete", fourth, "no-such-run", "--artifacts")
    assert_one_line_error(unknown, "no-such-run")
    assert shared.run_ids() == {second, fourth}

    both = shared.project.ok("runs", "delete", second, fourth, "--artifacts")

    assert len(both.out.strip().splitlines()) == 2, both
    for table in ("Execution", "Event", "EventPath", "Artifact", "Attribution", "Association"):
        assert shared.count(table) == 0, table
    # The first run's shared outputs went with the last run using them.
    assert shared.keys(first) == shared.keys(second) == shared.keys(fourth) == set()


def test_grpc_store_refuses_with_the_reason(tmp_path: Path, grpc_mlmd: rs.Server) -> None:
    project = new_shared_project(tmp_path / "project")
    project.ok("metadata-store", "register", "meta", *grpc_args(grpc_mlmd))
    project.ok("stack", "register", "grpc", "-o", "default", "-a", "default", "-m", "meta", "--set")
    result = project.ok("run", "pipe.py:p")
    found = RUN_ID.search(result.out + result.err)
    assert found is not None, result
    run_id = found.group(0)

    refused = project.cli("runs", "delete", run_id, "--yes")

    assert_one_line_error(refused, "cannot delete runs", "no delete call", "sqlite or mysql")
    listed = project.python(
        f"from zenml_kf import Repository\nprint(Repository().get_run({run_id!r}).status.value)"
    )
    assert listed.out.strip() == "completed", listed
