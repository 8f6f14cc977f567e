"""A run that opens the sqlite store while another process is still creating its tables.

MLMD creates its tables one statement at a time, so the first runs on a fresh project,
started together, can find a store with some tables and not others; MLMD then refuses
to open it ("concurrent connection to the empty database"). The store here is made
half-created on purpose, exactly as such a creator leaves it, so the race is met every
time instead of once in a hundred.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import ZENML, _clean_env, new_project, python_json, run_cli

PIPELINE = """
from zenml_kf import pipeline, step


@step
def one() -> int:
    return 1


@pipeline
def first(one):
    one()


p = first(one())
"""


def _complete_schema(tmp_path: Path) -> list[str]:
    """The SQL MLMD runs to create its store: its tables, indexes and version rows."""
    reference = tmp_path / "reference.db"
    subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from ml_metadata.metadata_store import metadata_store
                from ml_metadata.proto import metadata_store_pb2 as pb
                config = pb.ConnectionConfig()
                config.sqlite.filename_uri = {str(reference)!r}
                config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
                metadata_store.MetadataStore(config)
                """
            ),
        ],
        check=True,
        timeout=60,
    )
    with sqlite3.connect(reference) as db:
        ddl = [
            sql
            for (sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        rows = db.execute("SELECT * FROM MLMDEnv").fetchall()
    assert len(ddl) > 10 and rows, ddl
    return ddl + [f"INSERT INTO MLMDEnv VALUES ({', '.join(repr(v) for v in row)})" for row in rows]


def _half_made_store(root: Path, statements: list[str]) -> Path:
    """The project's store as a concurrent creator leaves it after its first table."""
    path = root / ".zen" / "local_stores" / "metadata.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(statements[0])
    db.close()
    return path


def _start_run(root: Path) -> subprocess.Popen[str]:
    """`zenml run` of the project's pipeline, in the background, as a user starts it."""
    return subprocess.Popen(
        [ZENML, "run", "first_pipeline.py:p"],
        cwd=root,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_waits_for_the_store_another_process_is_creating(tmp_path: Path) -> None:
    statements = _complete_schema(tmp_path)
    root = new_project(tmp_path, {"first_pipeline.py": PIPELINE})
    store = _half_made_store(root, statements)
    run = _start_run(root)
    time.sleep(2)  # the run is up and finds the tables half made
    assert run.poll() is None, run.communicate()
    db = sqlite3.connect(store, isolation_level=None, timeout=30)  # the creator goes on
    db.execute("BEGIN IMMEDIATE")
    for sql in statements[1:]:
        db.execute(sql)
    db.execute("COMMIT")
    db.close()

    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    listed = run_cli("runs", "list", cwd=root)
    assert listed.code == 0 and "first" in listed.out and "completed" in listed.out, listed


def test_a_store_left_half_made_is_one_line_naming_the_file(tmp_path: Path) -> None:
    statements = _complete_schema(tmp_path)
    root = new_project(tmp_path, {"first_pipeline.py": PIPELINE})
    store = _half_made_store(root, statements)
    # The wait is 30 s; a user's script may shorten it like any module constant.
    result = python_json(
        root,
        "-c",
        textwrap.dedent(
            """
            import json, time
            from zenml_kf.metadata import base
            from zenml_kf.exceptions import MetadataStoreError
            from first_pipeline import p

            base.OPEN_WAIT_SECONDS = 1.0
            start = time.monotonic()
            try:
                p.run()
            except MetadataStoreError as exc:
                print(json.dumps({"error": str(exc), "cause": str(exc.__cause__),
                                  "seconds": time.monotonic() - start}))
            """
        ),
    )
    error = result["error"]
    assert "\n" not in error
    assert f"the metadata store at {store} was still being created by another process" in error
    assert f"delete {store} if no other run is starting" in error
    assert "concurrent connection" in result["cause"]  # MLMD's own words stay on the chain
    assert 1.0 <= result["seconds"] < 10
    with sqlite3.connect(store) as db:  # nothing was added to the half-made store
        [(tables,)] = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    db.close()
    assert tables == 1


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Take the store's write lock, as another first connection creating the tables holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("CREATE TABLE holder (x)")
    return db


def test_a_run_waits_for_a_write_lock_held_longer_than_mlmd_waits(tmp_path: Path) -> None:
    """MLMD gives up on a lock after about two seconds ("Concurrent writes aborted")."""
    root = new_project(tmp_path, {"first_pipeline.py": PIPELINE})
    holder = _hold_write_lock(root / ".zen" / "local_stores" / "metadata.db")
    run = _start_run(root)
    time.sleep(5)
    assert run.poll() is None, run.communicate()
    holder.execute("ROLLBACK")
    holder.close()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    listed = run_cli("runs", "list", cwd=root)
    assert listed.code == 0 and "completed" in listed.out, listed


def test_a_lock_never_released_is_one_line_saying_so(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"first_pipeline.py": PIPELINE})
    store = root / ".zen" / "local_stores" / "metadata.db"
    holder = _hold_write_lock(store)
    try:
        result = python_json(
            root,
            "-c",
            textwrap.dedent(
                """
                import json
                from zenml_kf.metadata import base
                from zenml_kf.exceptions import MetadataStoreError
                from first_pipeline import p

                base.OPEN_WAIT_SECONDS = 1.0
                try:
                    p.run()
                except MetadataStoreError as exc:
                    print(json.dumps({"error": str(exc), "cause": str(exc.__cause__)}))
                """
            ),
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result["error"] == (
        f"the metadata store at {store} stayed locked by another process after 1s; try again once it is done"
    )
    assert "Concurrent writes aborted" in result["cause"]
