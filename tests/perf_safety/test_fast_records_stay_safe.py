"""The fast paths of a local run keep every record: WAL journaling on the sqlite store,
one transaction per scheduling round, cache hits written together, gRPC left unloaded.

Each run is a `zenml run` subprocess; the store is read back in a fresh process (or this
one) only after the run's process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ZENML, _clean_env, new_project, python_json, run_cli

CHAIN = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from zenml_kf import BaseStepConfig, pipeline, step


    class Seed(BaseStepConfig):
        seed: int = 1


    @step
    def first(config: Seed) -> int:
        return config.seed


    @step
    def second(x: int) -> bytes:
        ready = os.environ.get("READY_FILE")
        if ready:
            Path(ready).write_text("running")
            time.sleep(60)
        return bytes(x) * 1000


    @step
    def third(data: bytes) -> int:
        return len(data)


    @pipeline
    def chain(first, second, third):
        third(second(first()))


    p = chain(first=first(config=Seed(seed=int(os.environ.get("SEED", "1")))), second=second(), third=third())
    """
)

READ_BACK = textwrap.dedent(
    """
    import json, sys
    from zenml_kf import Repository

    runs = Repository().get_pipeline("chain").runs
    print(json.dumps([
        {
            "status": run.status.value,
            "steps": {
                name: {
                    "status": step.status.value,
                    "outputs": {out: art.uri for out, art in step.outputs.items()},
                }
                for name, step in run.steps.items()
            },
        }
        for run in runs
    ]))
    """
)


def _read_back(root: Path) -> list[dict[str, object]]:
    return python_json(root, "-c", READ_BACK)  # type: ignore[no-any-return]


def _journal_mode(db: Path) -> str:
    """Asked in a process of its own: this one must not open the file with a second sqlite."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('PRAGMA journal_mode').fetchone()[0])"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_sqlite_store_is_in_wal_mode_after_its_first_run(tmp_path: Path) -> None:
    """Created in rollback mode (racing first runs wait for each other there), then switched."""
    root = new_project(tmp_path, {"chain.py": CHAIN})
    db = root / ".zen" / "local_stores" / "metadata.db"
    assert run_cli("run", "chain.py:p", cwd=root).code == 0
    assert _journal_mode(db) == "delete"
    result = run_cli("run", "chain.py:p", env={"SEED": "2"}, cwd=root)
    assert result.code == 0, result
    assert _journal_mode(db) == "wal"


def test_a_store_made_in_rollback_mode_is_switched_and_keeps_its_runs(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    assert run_cli("run", "chain.py:p", cwd=root).code == 0
    db = root / ".zen" / "local_stores" / "metadata.db"
    back = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=DELETE')"
    subprocess.run([sys.executable, "-c", back, str(db)], check=True, timeout=30)
    assert _journal_mode(db) == "delete"
    assert run_cli("run", "chain.py:p", env={"SEED": "2"}, cwd=root).code == 0
    assert _journal_mode(db) == "wal"
    runs = _read_back(root)
    assert [r["status"] for r in runs] == ["completed", "completed"]


def test_reads_between_runs_in_one_process_see_an_intact_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process keeps MLMD connections open while other processes write the WAL."""
    from zenml_kf import Repository

    root = new_project(tmp_path, {"chain.py": CHAIN})
    monkeypatch.chdir(root)
    held = []  # every read keeps its connection open
    for seed in range(1, 4):
        assert run_cli("run", "chain.py:p", env={"SEED": str(seed)}, cwd=root).code == 0
        run = Repository(root).get_pipeline("chain").runs[-1]
        held.append(run)
        assert run.get_step("third").output.read() == seed * 1000
    assert len(Repository(root).get_pipeline("chain").runs) == 3


def test_a_fully_cached_run_records_every_hit_with_its_outputs(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    assert run_cli("run", "chain.py:p", cwd=root).code == 0
    again = run_cli("run", "chain.py:p", cwd=root)
    assert again.code == 0, again
    assert again.err.count(" cached") == 3, again
    original, cached = _read_back(root)
    assert cached["status"] == "completed"
    assert {s["status"] for s in cached["steps"].values()} == {"cached"}  # type: ignore[union-attr]
    # The hits point at the first run's artifacts, output by output.
    assert cached["steps"] == {
        name: {"status": "cached", "outputs": step["outputs"]}  # type: ignore[index]
        for name, step in original["steps"].items()  # type: ignore[union-attr]
    }


def test_cached_outputs_are_attributed_to_the_run_that_reused_them(tmp_path: Path) -> None:
    """Run deletion keeps an artifact while any run's context is attributed it."""
    root = new_project(tmp_path, {"chain.py": CHAIN})
    assert run_cli("run", "chain.py:p", cwd=root).code == 0
    assert run_cli("run", "chain.py:p", cwd=root).code == 0
    code = textwrap.dedent(
        """
        from zenml_kf import Repository
        store = Repository().get_stack().metadata_store.store
        runs = sorted(store.get_contexts_by_type("system.PipelineRun"), key=lambda c: c.id)
        print(*[sorted(a.uri for a in store.get_artifacts_by_context(c.id)) == sorted(
            a.uri for a in store.get_artifacts_by_context(runs[0].id)) for c in runs])
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=_clean_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


def test_a_run_killed_between_steps_keeps_the_finished_one_and_records_no_partial_output(
    tmp_path: Path,
) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    ready = tmp_path / "ready"
    env = {**_clean_env(), "READY_FILE": str(ready)}
    proc = subprocess.Popen(
        [ZENML, "run", "chain.py:p"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    [run] = _read_back(root)  # reading reaps the run of the killed process
    steps = run["steps"]
    assert run["status"] == "failed"
    assert steps["first"]["status"] == "completed"  # type: ignore[index]
    assert steps["second"] == {"status": "failed", "outputs": {}}  # type: ignore[index]
    assert steps["third"]["status"] == "not run"  # type: ignore[index]
    [uri] = steps["first"]["outputs"].values()  # type: ignore[index]
    assert Path(uri).is_dir()
    artifacts = root / ".zen" / "local_stores" / "artifacts"
    assert not list(artifacts.glob("chain/*/second/output")), "no output published for the killed step"
    assert list(artifacts.glob("chain/*/second/.output.partial-*")), "its partial output is left for clean"


def test_a_local_run_leaves_grpc_unloaded_until_used(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    code = textwrap.dedent(
        """
        import runpy, sys
        runpy.run_path("chain.py")["p"].run()
        print("cygrpc" in str(sorted(sys.modules)), "asyncio" in sys.modules)
        import grpc
        channel = grpc.insecure_channel("127.0.0.1:1")
        channel.close()
        print("grpc._cython.cygrpc" in sys.modules, grpc.StatusCode.OK.name)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=_clean_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "True", "OK"]


COUNT_WRITES = textwrap.dedent(
    """
    import json, sys
    from collections import Counter
    from ml_metadata.metadata_store import metadata_store

    writes = []
    for name in dir(metadata_store.MetadataStore):
        if name.startswith("put_"):
            def wrapped(self, *args, _name=name, _method=getattr(metadata_store.MetadataStore, name), **kwargs):
                writes.append(_name)
                return _method(self, *args, **kwargs)
            setattr(metadata_store.MetadataStore, name, wrapped)

    sys.path.insert(0, ".")
    from chain import p

    p.run()
    print(json.dumps(Counter(writes)))
    """
)


def test_a_linear_run_commits_once_per_step_and_its_end_with_the_last_one(tmp_path: Path) -> None:
    """3 steps: the run's start (its DAG execution, then its parent context), then one
    commit per round: [first started], [first's output, second started], [second's output,
    third started], [third's output and the run's end]. A cached rerun: start, then one."""
    root = new_project(tmp_path, {"chain.py": CHAIN, "count.py": COUNT_WRITES})
    counts = [python_json(root, "count.py") for _ in range(2)]
    # Type lookups (put_*_type) write nothing once the types exist; the pipeline's context is
    # created by its first run.
    first, rerun = ({k: v for k, v in c.items() if not k.endswith("_type")} for c in counts)
    assert first == {
        "put_contexts": 1,
        "put_execution": 1,
        "put_parent_contexts": 1,
        "put_lineage_subgraph": 4,
    }, counts
    assert rerun == {"put_execution": 1, "put_parent_contexts": 1, "put_lineage_subgraph": 1}, counts
    runs = _read_back(root)
    assert [r["status"] for r in runs] == ["completed", "completed"]
