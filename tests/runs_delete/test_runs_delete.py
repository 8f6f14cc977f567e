"""`zenml runs delete` and `Repository().delete_runs` on the default stack (sqlite + local folder).

Every action goes through the CLI as a subprocess; what it did is read straight from the
sqlite tables, the artifact folder and the post-run API.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.conftest import ZENML, _clean_env, assert_clean_error, python_json, run_cli
from tests.runs_delete.conftest import SQLiteRecords, run
from zenml_kf import Repository


def artifact_files(root: Path) -> list[Path]:
    folder = root / ".zen" / "local_stores" / "artifacts"
    return sorted(p for p in folder.rglob("*") if p.is_file())


def one_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return lines[0]


def test_deleted_records_leave_nothing_and_no_cache_hit(project: Path) -> None:
    first = run(project)
    records = SQLiteRecords(project)
    uris = records.artifact_uris()
    assert len(uris) == 3 and records.count("Execution") == 3  # DAG + 2 steps

    result = run_cli("runs", "delete", first, cwd=project)

    assert result.code == 0, result
    line = one_line(result.out)
    assert line.startswith(f"Deleted run {first}: 2 steps, 3 artifact records"), line
    assert "--artifacts" in line  # says the files stayed, and how to remove them
    assert records.run_ids() == set()
    for table in ("Execution", "ExecutionProperty", "Event", "EventPath", "Association"):
        assert records.count(table) == 0, table
    for table in ("Artifact", "ArtifactProperty", "Attribution", "ParentContext"):
        assert records.count(table) == 0, table
    assert [r[0] for r in records.query("SELECT name FROM Context")] == ["demo"]  # the pipeline stays
    assert all(Path(uri).is_dir() for uri in uris)  # without --artifacts the files stay

    # The files of the deleted run are still whole, so only the records decide: a new run
    # of the same pipeline executes every step.
    second = run(project)
    steps = Repository(project).get_run(second).steps
    assert [(s.status.value, s.is_cached) for s in steps.values()] == [("completed", False)] * 2
    assert not uris & {a.uri for s in steps.values() for a in s.outputs.values()}


def test_artifacts_a_later_run_reuses_are_kept(project: Path) -> None:
    first = run(project)
    second = run(project, "pipe.py:p", "--config", "suffix.yaml")  # make cached, use runs
    repo = Repository(project)
    run2 = repo.get_run(second)
    assert run2.get_step("make").is_cached and not run2.get_step("use").is_cached
    run1 = repo.get_run(first)
    shared = {a.uri for a in run1.get_step("make").outputs.values()}
    own = run1.get_step("use").output.uri

    result = run_cli("runs", "delete", first[:-2], "--artifacts", cwd=project)  # a unique prefix

    assert result.code == 0, result
    assert one_line(result.out) == (
        f"Deleted run {first}: 2 steps, 1 artifact record, 2 shared artifact(s) kept, "
        "1 artifact folder removed"
    )
    records = SQLiteRecords(project)
    assert records.run_ids() == {second}
    assert not Path(own).exists() and own not in records.artifact_uris()
    assert all(Path(uri).is_dir() for uri in shared) and shared <= records.artifact_uris()
    run2 = Repository(project).get_run(second)  # still whole, read through the post-run API
    assert run2.get_step("use").output.read() == "x1!"
    assert run2.get_step("use").inputs["a"].read() == 1
    assert run2.get_step("make").outputs["b"].read() == "x"
    assert run2.get_step("make").outputs["b"].producer_step.execution_id is not None

    third = run(project)  # its `use` was cached only by the deleted run
    assert not Repository(project).get_run(third).get_step("use").is_cached

    result = run_cli("runs", "delete", second, third, "--artifacts", "--yes", cwd=project)

    assert result.code == 0, result
    assert len(result.out.strip().splitlines()) == 2, result
    assert records.run_ids() == set() and records.count("Artifact") == 0
    assert artifact_files(project) == []


def test_bad_input_is_one_line_and_deletes_nothing(project: Path) -> None:
    first = run(project)
    second = run(project)
    records = SQLiteRecords(project)
    before, files = records.snapshot(), artifact_files(project)

    unknown = run_cli("runs", "delete", first, "no-such-run", "--artifacts", cwd=project)
    assert_clean_error(unknown, "no-such-run", "zenml runs list")
    assert len(unknown.err.strip().splitlines()) == 1, unknown

    ambiguous = run_cli("runs", "delete", "demo-", cwd=project)
    assert_clean_error(ambiguous, "matches 2 runs", "give more of the run id")

    empty = run_cli("runs", "delete", "", cwd=project)  # would prefix every run id
    assert_clean_error(empty, "empty run id")

    missing_stack = run_cli("runs", "delete", first, "--stack", "nope", cwd=project)
    assert_clean_error(missing_stack, "nope")

    assert records.snapshot() == before and artifact_files(project) == files
    assert records.run_ids() == {first, second}


def test_a_running_run_is_refused_and_a_stale_one_deleted(project: Path, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    env = {**_clean_env(), "ZT_STARTED": str(started), "ZT_RELEASE": str(release)}
    proc = subprocess.Popen(
        [ZENML, "run", "pipe.py:s"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while not started.exists():
            assert proc.poll() is None and time.time() < deadline, "the slow run did not start"
            time.sleep(0.05)
        records = SQLiteRecords(project)
        [running] = records.run_ids()
        before = records.snapshot()

        refused = run_cli("runs", "delete", running, "--yes", cwd=project)

        assert_clean_error(refused, running, "still running", f"pid {proc.pid}")
        assert len(refused.err.strip().splitlines()) == 1, refused
        assert records.snapshot() == before

        # Another pipeline's finished run goes meanwhile; the running one is untouched.
        finished = run(project)
        assert run_cli("runs", "delete", finished, "--artifacts", cwd=project).code == 0
        assert records.run_ids() == {running}
        assert records.count("Execution") == 2  # the running run's DAG and its step
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the process dies without recording its end
        proc.wait()

    deleted = run_cli("runs", "delete", running, cwd=project)  # its owner is gone: stale

    assert deleted.code == 0, deleted
    assert one_line(deleted.out).startswith(f"Deleted run {running}: 1 step, 0 artifact records")
    assert records.run_ids() == set()


def test_a_terminal_is_asked_first(project: Path) -> None:
    first = run(project)

    def answer(text: str) -> tuple[int, str]:
        controller, terminal = os.openpty()
        try:
            proc = subprocess.Popen(
                [ZENML, "runs", "delete", first],
                cwd=project,
                env=_clean_env(),
                stdin=terminal,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            os.write(controller, text.encode())
            out, _ = proc.communicate(timeout=60)
        finally:
            os.close(controller)
            os.close(terminal)
        return proc.returncode, out

    code, out = answer("n\n")
    assert code == 1 and "Nothing deleted." in out, out
    assert f"Delete 1 run ({first}) with their records?" in out, out
    assert SQLiteRecords(project).run_ids() == {first}

    code, out = answer("y\n")
    assert code == 0 and f"Deleted run {first}" in out, out
    assert SQLiteRecords(project).run_ids() == set()


API = """
import json
from zenml_kf import Repository
from zenml_kf.exceptions import MetadataStoreError
import pipe

run = pipe.p.run()
[deleted] = Repository().delete_runs([run.id], artifacts=True)
try:
    Repository().get_run(run.id)
    found = "still there"
except MetadataStoreError as exc:
    found = str(exc)
print(json.dumps({
    "run_id": deleted.run_id == run.id,
    "counts": [deleted.executions, deleted.artifacts, deleted.kept, len(deleted.removed_files)],
    "found": found,
}))
"""


def test_python_api(project: Path) -> None:
    got = python_json(project, "-c", API)
    assert got["run_id"] is True
    assert got["counts"] == [2, 3, 0, 3]
    assert got["found"].startswith("no run 'demo-")
    assert artifact_files(project) == []


def test_a_cache_hit_recorded_by_id_only_keeps_its_artifacts(project: Path) -> None:
    """A writer may record a cache hit with only `cached_execution_id` (no events, no
    attributions on the reused artifacts); deleting the original keeps what it serves."""
    first = run(project)
    second = run(project)  # every step a cache hit on the first run
    records = SQLiteRecords(project)
    with sqlite3.connect(records.path) as conn:
        hits = [
            row[0]
            for row in conn.execute(
                "SELECT execution_id FROM ExecutionProperty WHERE name = 'cached_execution_id'"
            )
        ]
        assert len(hits) == 2
        marks = ", ".join("?" * len(hits))
        conn.execute(
            f"DELETE FROM EventPath WHERE event_id IN (SELECT id FROM Event WHERE execution_id IN ({marks}))",
            hits,
        )
        conn.execute(f"DELETE FROM Event WHERE execution_id IN ({marks})", hits)
        conn.execute(
            "DELETE FROM Attribution WHERE context_id = (SELECT id FROM Context WHERE name = ?)",
            (second,),
        )
    uris = records.artifact_uris()

    result = run_cli("runs", "delete", first, "--artifacts", cwd=project)

    assert result.code == 0, result
    assert "0 artifact records, 3 shared artifact(s) kept, 0 artifact folders removed" in result.out
    assert records.artifact_uris() == uris and all(Path(u).is_dir() for u in uris)
    assert records.run_ids() == {second}


def test_a_failure_midway_changes_nothing(project: Path) -> None:
    first = run(project)
    records = SQLiteRecords(project)
    # The database fails the artifact deletes, after the events and executions went.
    with sqlite3.connect(records.path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_artifacts BEFORE DELETE ON Artifact "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    before, files = records.snapshot(), artifact_files(project)

    failed = run_cli("runs", "delete", first, "--artifacts", cwd=project)

    assert_clean_error(failed, "cannot delete runs", "database or disk is full", "nothing was changed")
    assert records.snapshot() == before and artifact_files(project) == files

    with sqlite3.connect(records.path) as conn:
        conn.execute("DROP TRIGGER fail_artifacts")
    assert run_cli("runs", "delete", first, "--artifacts", cwd=project).code == 0
    assert records.run_ids() == set() and artifact_files(project) == []


def test_deleting_while_runs_write_keeps_the_store_whole(project: Path) -> None:
    """Deletes that overlap runs of the same pipeline: every run completes, the sqlite file
    passes its integrity check, and exactly the deleted runs are gone."""
    old = [run(project) for _ in range(3)]
    # Other parameters: the new runs take nothing from the old ones' cache (a run that finds
    # a step in the cache just before its run is deleted fails; see `metadata.deletion`).
    (project / "other.yaml").write_text("steps:\n  make:\n    parameters:\n      n: 2\n")
    runs = [
        subprocess.Popen(
            [ZENML, "run", "pipe.py:p", "--config", "other.yaml"],
            cwd=project,
            env=_clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    deleted = [run_cli("runs", "delete", run_id, "--artifacts", cwd=project) for run_id in old]
    outputs = [proc.communicate(timeout=180)[0] for proc in runs]

    assert all(d.code == 0 for d in deleted), deleted
    assert all(proc.returncode == 0 for proc in runs), outputs
    records = SQLiteRecords(project)
    assert records.query("PRAGMA integrity_check") == [("ok",)]
    assert len(records.run_ids()) == 4 and not records.run_ids() & set(old)
    for run_id in records.run_ids():
        assert Repository(project).get_run(run_id).get_step("use").output.read() == "xx2"
