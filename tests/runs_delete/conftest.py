"""Projects with the deletion test pipelines, and a look straight into their ML Metadata tables."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CLIResult, new_project, run_cli
from tests.remote.conftest import gcs_server, grpc_mlmd, mariadb, moto_server  # noqa: F401  (fixtures)
from tests.runs_delete.pipelines import PIPE, SUFFIX_CONFIG

RUN_ID = re.compile(r"\b(?:demo|slow)-\d{8}-\d{6}-[0-9a-f]{6}\b")

# Every table that holds a record of a run (types and MLMD's own tables excluded).
RECORD_TABLES = (
    "Context",
    "ContextProperty",
    "ParentContext",
    "Association",
    "Attribution",
    "Execution",
    "ExecutionProperty",
    "Event",
    "EventPath",
    "Artifact",
    "ArtifactProperty",
)


def run_id_of(result: CLIResult) -> str:
    found = RUN_ID.search(result.out + result.err)
    assert found is not None, result
    return found.group(0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path, {"pipe.py": PIPE, "suffix.yaml": SUFFIX_CONFIG})


def run(root: Path, target: str = "pipe.py:p", *args: str) -> str:
    """Run a pipeline through the CLI; its run id."""
    result = run_cli("run", target, *args, cwd=root)
    assert result.code == 0, result
    return run_id_of(result)


class SQLiteRecords:
    """The default stack's MLMD sqlite file, read with plain SQL."""

    def __init__(self, root: Path) -> None:
        self.path = root / ".zen" / "local_stores" / "metadata.db"

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.path) as conn:
            return list(conn.execute(sql, params))

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every record table: equal snapshots mean nothing changed."""
        return {table: sorted(self.query(f"SELECT * FROM `{table}`"), key=repr) for table in RECORD_TABLES}

    def run_ids(self) -> set[str]:
        rows = self.query(
            "SELECT c.name FROM Context c JOIN Type t ON t.id = c.type_id WHERE t.name = 'system.PipelineRun'"
        )
        return {str(r[0]) for r in rows}

    def artifact_uris(self) -> set[str]:
        return {str(r[0]) for r in self.query("SELECT uri FROM Artifact")}

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM `{table}`")[0][0])  # type: ignore[call-overload]


# Real servers for the shared-stack tests, once per test session (and xdist worker).
