"""Runs whose process is gone: found by their owner, marked FAILED by the next reader.

The local orchestrator records who runs a run (`owner_host`, `owner_pid` and the
process's start time `owner_started`) on the run's context and DAG execution. A process
killed with SIGKILL (or a machine that lost power) cannot record its end, so its run
stays RUNNING. `reap_stale_runs` (called when runs are read and when a local run starts)
finds RUNNING runs owned by a process of this host that no longer exists, or whose pid
now belongs to a process started at another time, and marks the run and its RUNNING
steps FAILED with the reason. Runs of other hosts, and runs without an owner (KFP's),
are left alone: only their own host can tell whether they still run.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zenml_kf.log import get_logger
from zenml_kf.metadata.recorder import DAG_EXECUTION, RUN_CONTEXT
from zenml_kf.metadata.values import get_value, set_value

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore
    from ml_metadata.proto import metadata_store_pb2 as pb

logger = get_logger(__name__)

OWNER_HOST = "owner_host"
OWNER_PID = "owner_pid"
OWNER_STARTED = "owner_started"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: str
    """The process's start time (boot id and clock ticks on Linux); "" when unknown."""

    def properties(self) -> dict[str, Any]:
        return {OWNER_HOST: self.host, OWNER_PID: self.pid, OWNER_STARTED: self.started}

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """Whether the owning process still runs; True for another host's (it cannot be told)."""
        if not self.is_local():
            return True
        started = process_started(self.pid)
        if started is None:
            return False
        return not (self.started and started and started != self.started)


def current_owner() -> Owner:
    return Owner(socket.gethostname(), os.getpid(), process_started(os.getpid()) or "")


def owner_of(execution: pb.Execution) -> Owner | None:
    props = execution.custom_properties
    host, pid = get_value(props, OWNER_HOST), get_value(props, OWNER_PID)
    if not host or not isinstance(pid, int):
        return None
    return Owner(str(host), pid, str(get_value(props, OWNER_STARTED, "")))


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_started(pid: int) -> str | None:
    """A token for when process `pid` started; None when no (living) process has that pid.

    On Linux the start time in clock ticks since boot (field 22 of /proc/PID/stat) with
    the boot id, so a pid reused after the owner died, even across a reboot, differs.
    Elsewhere "" (unknown) for any living process, found with signal 0.
    """
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        fields = stat[stat.rfind(")") + 2 :].split()  # the name in (...) may hold spaces
        if fields[0] in ("Z", "X"):  # a zombie waits for its parent but runs no more
            return None
        return f"{_boot_id()}:{fields[19]}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, owned by another user
    return ""


def reap_stale_runs(store: MetadataStore) -> list[str]:
    """Mark RUNNING runs whose owning process is gone FAILED; the ids of the runs marked.

    Best effort: a store that cannot be written (or read) is left as it is, with a warning.
    """
    try:
        return _reap(store)
    except Exception as exc:  # never let cleaning up break the command that reads
        logger.warning("could not check for runs left running by killed processes: %s", exc)
        return []


def _reap(store: MetadataStore) -> list[str]:
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb_

    running = store.get_executions(
        list_options=mlmd.ListOptions(
            filter_query=f"type = '{DAG_EXECUTION}' AND last_known_state = RUNNING "
            f"AND custom_properties.{OWNER_HOST}.string_value = '{socket.gethostname()}'"
        )
    )
    reaped = []
    for dag in running:
        owner = owner_of(dag)
        if owner is None or owner.is_alive():
            continue
        reason = f"the process running it (pid {owner.pid} on {owner.host}) is gone"
        now = time.time()
        changed = [dag]
        run_type = store.get_context_type(RUN_CONTEXT).id
        contexts = [c for c in store.get_contexts_by_execution(dag.id) if c.type_id == run_type]
        run_id = str(get_value(dag.custom_properties, "display_name", dag.id))
        for context in contexts:
            for execution in store.get_executions_by_context(context.id):
                if execution.id != dag.id and execution.last_known_state == pb_.Execution.RUNNING:
                    changed.append(execution)
        for execution in changed:
            execution.last_known_state = pb_.Execution.FAILED
            set_value(execution.custom_properties, "finished_at", now)
            set_value(execution.custom_properties, "error", reason)
        store.put_executions(changed)
        logger.info("Run %s is marked failed: %s", run_id, reason)
        reaped.append(run_id)
    return reaped


def live_runs(store: MetadataStore) -> dict[str, bool]:
    """Runs recorded by the local orchestrator, by id: True while one may still be writing.

    A run counts as live while RUNNING with an owner that still runs (or on another host).
    """
    from ml_metadata import errors

    try:
        dags = store.get_executions_by_type(DAG_EXECUTION)
    except errors.NotFoundError:
        return {}
    found: dict[str, bool] = {}
    for dag in dags:
        owner = owner_of(dag)
        if owner is None:
            continue
        run_id = str(get_value(dag.custom_properties, "display_name", ""))
        running = dag.last_known_state in (2, 1)  # RUNNING, NEW
        found[run_id] = running and owner.is_alive()
    return found


__all__ = ["Owner", "current_owner", "live_runs", "owner_of", "process_started", "reap_stale_runs"]
