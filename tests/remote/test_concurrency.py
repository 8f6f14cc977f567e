"""Runs in separate processes at once on one stack: every execution and artifact recorded.

On sqlite (the default stack) and on MySQL with an S3 bucket, starting from an empty
store, so the concurrent first connections also race to create MLMD's schema and the
first runs of a pipeline race to create its context.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from tests.remote.conftest import Project, make_bucket, subprocess_env, unique
from tests.remote.test_metadata_stores import mysql_args

STEPS = {"source", "s1", "s2", "s3", "s4", "total"}
EXPECTED_TOTAL = sum(range(1000)) * 4 + 4 * 1000


def _use(project: Project, request: pytest.FixtureRequest, backend: str) -> None:
    if backend == "sqlite":
        return  # the default stack: local folder + sqlite under .zen/
    mariadb = request.getfixturevalue("mariadb")
    project.ok("metadata-store", "register", "meta", *mysql_args(mariadb, unique("cc").replace("-", "_")))
    bucket = make_bucket("s3", request.getfixturevalue("moto_server"))
    project.ok("artifact-store", "register", "bucket", *bucket.register_args("zenml"))
    project.ok("stack", "register", "remote", "-o", "default", "-a", "bucket", "-m", "meta", "--set")


RUNS = 8


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_eight_runs_at_once_all_complete_with_everything_recorded(
    project: Project, request: pytest.FixtureRequest, backend: str
) -> None:
    _use(project, request, backend)
    logs = [project.root / f"run-{i}.log" for i in range(RUNS)]
    start = {"STRESS_START_AT": str(time.time() + 12)}  # every process is up by then
    procs = [project.popen("run", "stress_pipeline.py:p", env=start, log=log) for log in logs]
    for proc, log in zip(procs, logs, strict=True):
        assert proc.wait(timeout=400) == 0, log.read_text()

    runs = project.repository().get_pipeline("stress").runs
    assert len(runs) == RUNS and {r.status.value for r in runs} == {"completed"}
    spans = [_span(run) for run in runs]
    for i, (begin, end) in enumerate(spans):  # each run overlapped another one
        assert any(b < end and begin < e for j, (b, e) in enumerate(spans) if j != i), spans
    uris = set()
    for run in runs:
        steps = run.steps
        assert set(steps) == STEPS
        assert all(s.status.value == "completed" and not s.is_cached for s in steps.values())
        assert all(len(s.outputs) == 1 for s in steps.values())
        assert set(steps["total"].inputs) == {"a", "b", "c", "d"}
        assert steps["total"].output.read() == EXPECTED_TOTAL
        uris |= {s.output.uri for s in steps.values()}
    assert len(uris) == 6 * RUNS  # no run wrote over (or recorded) another's artifacts


def _span(run: Any) -> tuple[float, float]:
    steps = run.steps.values()
    return min(float(s.started_at) for s in steps), max(float(s.finished_at) for s in steps)


RACE = textwrap.dedent(
    """
    import sys, time
    from zenml_kf import Repository
    from zenml_kf.metadata.recorder import MetadataRecorder

    name, start_at, index = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    recorder = MetadataRecorder(Repository().get_stack().metadata_store.store)
    while time.time() < start_at:
        pass
    run = recorder.start_run(name, f"{name}-{index}", "/nowhere", {})
    recorder.finish_run(run, failed=False)
    print("ok")
    """
)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_first_runs_of_a_pipeline_racing_share_one_pipeline_context(
    project: Project, request: pytest.FixtureRequest, backend: str
) -> None:
    _use(project, request, backend)
    # Reading creates nothing: on sqlite the four also race to create the store's tables
    # (tests/hardening/test_first_open_race.py meets that race every time).
    project.ok("runs", "list")
    name, start_at = unique("race"), time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, name, str(start_at), str(i)],
            cwd=project.root,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    runs = project.repository().get_pipeline(name).runs
    assert sorted(r.id for r in runs) == [f"{name}-{i}" for i in range(4)]
