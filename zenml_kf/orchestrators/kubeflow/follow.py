"""Following a KFP run to its end.

kfp.Client.wait_for_run_completion misses CANCELED as an end state and waits on
(kubeflow/pipelines#14473), and makes its requests without a timeout, so a server that
stops answering would hang it. This loop asks with a per-request timeout, reports each
step's state as it changes, and stops at any terminal state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zenml_kf.orchestrators.kubeflow.connection import KFPConnection, KubeflowError

# V2beta1RuntimeState values that end a run (backend/api/v2beta1/run.proto, KFP 2.5.0).
TERMINAL = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


@dataclass(frozen=True)
class RunState:
    state: str
    steps: dict[str, str] = field(default_factory=dict)  # task name -> its state
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


def read_state(conn: KFPConnection, run_id: str, tasks: set[str] | None = None) -> RunState:
    """The run's state and, for the tasks named in `tasks` (all when None), their states."""
    runs = conn.api("RunServiceApi")
    run = conn.call(
        f"reading run {run_id}", runs.run_service_get_run, run_id=run_id, _request_timeout=conn.timeout
    )
    steps: dict[str, str] = {}
    details = getattr(run, "run_details", None)
    for task in getattr(details, "task_details", None) or []:
        name = getattr(task, "display_name", None)
        if name and (tasks is None or name in tasks) and getattr(task, "state", None):
            steps[name] = str(task.state)
    error = getattr(getattr(run, "error", None), "message", None)
    return RunState(str(run.state or "PENDING"), steps, error)


def follow(
    conn: KFPConnection,
    run_id: str,
    timeout_seconds: float,
    poll_seconds: float,
    report: Callable[[str], None],
    tasks: dict[str, str] | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> RunState:
    """Poll until the run ends; `tasks` maps KFP task names to the step names reported."""
    deadline = time.monotonic() + timeout_seconds
    names = tasks or {}
    seen: dict[str, str] = {}
    last_state = ""
    while True:
        state = read_state(conn, run_id, set(names) or None)
        for task, task_state in state.steps.items():
            if seen.get(task) != task_state:
                seen[task] = task_state
                report(f"  {names.get(task, task)}: {task_state.lower()}")
        if state.state != last_state:
            last_state = state.state
            report(f"Run {run_id}: {state.state.lower()}")
        if state.finished:
            return state
        if time.monotonic() >= deadline:
            raise KubeflowError(
                f"run {run_id} is still {state.state.lower()} after {timeout_seconds:g} s; it goes on in "
                "KFP (see its link above), or raise the orchestrator's timeout_seconds"
            )
        sleep(poll_seconds)
