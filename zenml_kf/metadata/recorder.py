"""Writes runs to MLMD the way KFP's launcher does, plus zenml-kf's own properties.

Layout (KFP backend 2.5.0 conventions): a `system.Pipeline` context per pipeline with a
child `system.PipelineRun` context per run; a root `system.DAGExecution` whose state is
the run's status; one `system.ContainerExecution` per step with `task_name`,
`display_name`, `cache_fingerprint`, `cached_execution_id`, `inputs` and `parent_dag_id`;
artifacts typed by schema title with `display_name` = output name; INPUT/OUTPUT events
keyed by input/output name. Every call here is made by one thread per run.

Step records are queued and written by `flush` in one transaction
(`put_lineage_subgraph`): each commit costs a sync of the store's file (sqlite) or a
round trip (MySQL, gRPC), so a linear run commits once per step (the previous step's
outputs with the next step's start), a fully cached run once for all its steps, and the
end of the run goes with its last steps. The orchestrator flushes before it hands a step
to a worker, so a step never runs unrecorded, and an output is published only after its
files are complete: the queue changes when things are written, not what is written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import MetadataStoreError, first_line
from zenml_kf.metadata.values import get_value, set_value

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore
    from ml_metadata.proto import metadata_store_pb2 as pb

    from zenml_kf.metadata.cache_index import CacheIndex

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER_EXECUTION = "system.ContainerExecution"
DAG_EXECUTION = "system.DAGExecution"

# MLMD's Execution.State values (metadata_store.proto), so that checking a state needs no proto.
NEW, RUNNING, COMPLETE, FAILED, CACHED, CANCELED = 1, 2, 3, 4, 5, 6


@dataclass
class RunRecord:
    run_id: str
    pipeline_context: pb.Context
    run_context: pb.Context
    dag_execution: pb.Execution


@dataclass(frozen=True)
class NewArtifact:
    """An output written to the store, to be recorded as it is published."""

    name: str
    uri: str
    artifact_type: str
    materializer: str
    data_type: str
    metadata: dict[str, Any]


@dataclass
class _Record:
    """An execution waiting to be written, with the artifacts its events point at."""

    execution: pb.Execution
    inputs: dict[str, pb.Artifact] = field(default_factory=dict)
    outputs: dict[str, pb.Artifact] = field(default_factory=dict)
    events: bool = False


class RecordingError(MetadataStoreError):
    """The metadata store failed a write (full disk, read-only file, lost server...)."""


def recording_error(exc: BaseException, where: str) -> RecordingError:
    """One line naming the store and the cause; MLMD appends the failed SQL, cut it off."""
    text = str(exc)
    start = text.find(" query: ", len("Error when executing query:"))
    cause = first_line(text[:start] if start > 0 else text)
    place = f" at {where}" if where else ""
    return RecordingError(f"cannot record the run in the metadata store{place} ({cause})")


def is_store_error(exc: BaseException) -> bool:
    """An error of the store (MLMD's status errors, a native failure, the OS), not a bug here.

    `ml_metadata.errors` is imported only once something failed: it is not needed to
    write a run.
    """
    if isinstance(exc, RuntimeError | OSError):
        return True
    from ml_metadata import errors

    return isinstance(exc, errors.StatusError)


class _GuardedStore:
    """The MLMD store with every failing call turned into a one-line RecordingError."""

    def __init__(self, store: MetadataStore, where: str) -> None:
        self._store = store
        self._where = where

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if is_store_error(exc):
                    raise recording_error(exc, self._where) from exc
                raise

        return call


ERROR_LIMIT = 2000


def recorded_error(error: str) -> str:
    """An error as a run records it: a step's exception text can run to megabytes; the
    step's log keeps it whole."""
    if len(error) <= ERROR_LIMIT:
        return error
    return error[: ERROR_LIMIT - 40] + " ... (cut; the step's log has it whole)"


class MetadataRecorder:
    def __init__(self, store: MetadataStore, where: str = "", cache_window: int = 0) -> None:
        """`where`: the store's address (a file, a server), named in error messages.
        `cache_window`: how many of the store's newest executions answer the run's cache
        lookups once one has hit (`CacheIndex`); 0 asks the store every time."""
        from ml_metadata.proto import metadata_store_pb2

        # MLMD logs each error it raises as a warning; ours say it in one line.
        logging.getLogger("absl").setLevel(logging.ERROR)
        self._raw = store
        self._store: Any = _GuardedStore(store, where)
        self._where = where
        self._pb = metadata_store_pb2
        self._type_ids: dict[tuple[str, str], int] = {}
        self._queue: list[_Record] = []
        self._run: RunRecord | None = None
        self._cache_window = cache_window
        self._cache_index: CacheIndex | None = None

    def _type_id(self, kind: str, name: str) -> int:
        key = (kind, name)
        if key not in self._type_ids:
            pb_ = self._pb
            if kind == "context":
                self._type_ids[key] = self._store.put_context_type(pb_.ContextType(name=name))
            elif kind == "execution":
                self._type_ids[key] = self._store.put_execution_type(pb_.ExecutionType(name=name))
            else:
                self._type_ids[key] = self._store.put_artifact_type(pb_.ArtifactType(name=name))
        return self._type_ids[key]

    def _contexts(self, run: RunRecord) -> list[pb.Context]:
        return [run.pipeline_context, run.run_context]

    def start_run(
        self,
        pipeline_name: str,
        run_id: str,
        pipeline_root: str,
        properties: dict[str, Any],
        owner: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Record a RUNNING run; `owner` (see `stale_runs`) goes on its context and DAG execution."""
        pb_ = self._pb
        owner = dict(owner or {})
        pipeline_type = self._type_id("context", PIPELINE_CONTEXT)
        pipeline_ctx = self._store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
        if pipeline_ctx is None:
            pipeline_ctx = self._new_pipeline_context(pipeline_name, pipeline_type)
        run_ctx = pb_.Context(type_id=self._type_id("context", RUN_CONTEXT), name=run_id)
        for key, value in {
            "namespace": "",
            "resource_name": run_id,
            "pipeline_root": pipeline_root,
            **properties,
            **owner,
        }.items():
            set_value(run_ctx.custom_properties, key, value)
        dag = pb_.Execution(
            type_id=self._type_id("execution", DAG_EXECUTION),
            last_known_state=pb_.Execution.RUNNING,
        )
        for key, value in {
            "display_name": run_id,
            "task_name": "",
            "started_at": time.time(),
            **owner,
        }.items():
            set_value(dag.custom_properties, key, value)
        run = RunRecord(run_id, pipeline_ctx, run_ctx, dag)
        # The run's context, its DAG execution and their links in one transaction: a failed
        # write leaves no run behind, and a recorded run always has a state. The pipeline's
        # context is only linked, not written again (force_reuse_context).
        dag.id, _, [_, run_ctx.id] = self._store.put_execution(
            dag, [], self._contexts(run), force_reuse_context=True
        )
        self._run = run
        try:
            self._store.put_parent_contexts(
                [pb_.ParentContext(child_id=run_ctx.id, parent_id=pipeline_ctx.id)]
            )
        except RecordingError:
            self.finish_run(run, failed=True, error="its pipeline could not be recorded")
            raise
        return run

    def _new_pipeline_context(self, pipeline_name: str, type_id: int) -> pb.Context:
        """Create the pipeline's context; the first runs of a pipeline may race to create it."""
        from ml_metadata import errors

        context = self._pb.Context(type_id=type_id, name=pipeline_name)
        try:
            [context.id] = self._raw.put_contexts([context])
        except errors.AlreadyExistsError:
            found = self._store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
            if found is None:
                raise
            return found
        except (errors.StatusError, RuntimeError, OSError) as exc:
            raise recording_error(exc, self._where) from exc
        return context

    def finish_run(self, run: RunRecord, failed: bool, error: str = "") -> None:
        """Write what is queued and the run's final state, in one transaction."""
        pb_ = self._pb
        run.dag_execution.last_known_state = pb_.Execution.FAILED if failed else pb_.Execution.COMPLETE
        set_value(run.dag_execution.custom_properties, "finished_at", time.time())
        if error:
            set_value(run.dag_execution.custom_properties, "error", recorded_error(error))
        self._enqueue(_Record(run.dag_execution))
        self.flush(run)

    def fail_run(self, run: RunRecord, reason: str, canceled: bool) -> None:
        """Mark the run FAILED and every step the store still has as running FAILED (or
        CANCELED), after a failure that may have cost queued records.

        Reads the run's executions back instead of trusting what was queued: a write that
        failed leaves steps RUNNING in the store that the queue had already moved on.
        """
        self._queue.clear()
        state = CANCELED if canceled else FAILED
        now = time.time()
        changed = []
        for execution in self._store.get_executions_by_context(run.run_context.id):
            if execution.id != run.dag_execution.id and execution.last_known_state in (NEW, RUNNING):
                execution.last_known_state = state
                set_value(execution.custom_properties, "finished_at", now)
                set_value(execution.custom_properties, "error", recorded_error(reason))
                changed.append(execution)
        dag = run.dag_execution
        dag.last_known_state = FAILED
        set_value(dag.custom_properties, "finished_at", now)
        set_value(dag.custom_properties, "error", recorded_error(reason))
        self._store.put_executions([*changed, dag])

    def start_step(self, run: RunRecord, task_name: str, properties: dict[str, Any]) -> pb.Execution:
        """Queue a RUNNING execution; `flush` before the step starts."""
        execution = self._new_execution(run, task_name, properties, self._pb.Execution.RUNNING)
        self._enqueue(_Record(execution))
        return execution

    def _new_execution(
        self, run: RunRecord, task_name: str, properties: dict[str, Any], state: int
    ) -> pb.Execution:
        execution = self._pb.Execution(
            type_id=self._type_id("execution", CONTAINER_EXECUTION), last_known_state=state
        )
        for key, value in {
            "display_name": task_name,
            "task_name": task_name,
            "parent_dag_id": run.dag_execution.id,
            "image": "",
            "pod_name": "",
            "namespace": "",
            "started_at": time.time(),
            **properties,
        }.items():
            set_value(execution.custom_properties, key, value)
        return execution

    def publish_step(
        self,
        run: RunRecord,
        execution: pb.Execution,
        inputs: dict[str, pb.Artifact],
        outputs: list[NewArtifact],
    ) -> dict[str, pb.Artifact]:
        """Queue the step as complete with its outputs and both kinds of events; the
        returned artifacts get their ids when the queue is written."""
        pb_ = self._pb
        new: dict[str, pb.Artifact] = {}
        for out in outputs:
            artifact = pb_.Artifact(
                type_id=self._type_id("artifact", out.artifact_type),
                uri=out.uri,
                state=pb_.Artifact.LIVE,
            )
            for key, value in {
                **out.metadata,
                "display_name": out.name,
                "materializer": out.materializer,
                "data_type": out.data_type,
            }.items():
                set_value(artifact.custom_properties, key, value)
            new[out.name] = artifact
        execution.last_known_state = pb_.Execution.COMPLETE
        set_value(execution.custom_properties, "finished_at", time.time())
        set_value(execution.custom_properties, "outputs", {n: a.uri for n, a in new.items()})
        self._enqueue(_Record(execution, dict(inputs), new, events=True))
        return new

    def record_cached(
        self,
        run: RunRecord,
        task_name: str,
        properties: dict[str, Any],
        cached: pb.Execution,
        inputs: dict[str, pb.Artifact],
        outputs: dict[str, pb.Artifact],
    ) -> pb.Execution:
        """Queue a cache hit: a CACHED execution pointing at the original execution and artifacts."""
        execution = self._new_execution(run, task_name, properties, self._pb.Execution.CACHED)
        set_value(execution.custom_properties, "cached_execution_id", str(cached.id))
        set_value(
            execution.custom_properties,
            "finished_at",
            get_value(execution.custom_properties, "started_at"),
        )
        set_value(execution.custom_properties, "outputs", {n: a.uri for n, a in outputs.items()})
        self._enqueue(_Record(execution, dict(inputs), dict(outputs), events=True))
        return execution

    def fail_step(self, run: RunRecord, execution: pb.Execution, error: str, canceled: bool = False) -> None:
        state = self._pb.Execution.CANCELED if canceled else self._pb.Execution.FAILED
        execution.last_known_state = state
        set_value(execution.custom_properties, "finished_at", time.time())
        set_value(execution.custom_properties, "error", recorded_error(error))
        self._enqueue(_Record(execution))

    def _enqueue(self, record: _Record) -> None:
        """Queue a record; a later one for the same execution replaces it in place."""
        for index, queued in enumerate(self._queue):
            if queued.execution is record.execution:
                self._queue[index] = record
                return
        self._queue.append(record)

    def flush(self, run: RunRecord) -> None:
        """Write every queued record, in one transaction when their inputs are all stored.

        A record whose input was produced by a record queued before it (only possible for
        a consumer queued in the same round as its producer) starts a new transaction, so
        that its events and `input_artifacts` name stored ids.
        """
        queue, self._queue = self._queue, []
        batch: list[_Record] = []
        for record in queue:
            if batch and any(not artifact.id for artifact in record.inputs.values()):
                self._write(run, batch)
                batch = []
            batch.append(record)
        if batch:
            self._write(run, batch)

    def _write(self, run: RunRecord, records: list[_Record]) -> None:
        pb_ = self._pb
        artifacts: list[pb.Artifact] = []
        index_of: dict[int, int] = {}  # stored artifact id or id() of a new one -> index
        edges: list[tuple[int | None, int | None, pb.Event]] = []
        for position, record in enumerate(records):
            if not record.events:
                continue
            # MLMD allows one INPUT event per artifact and execution, but one output may feed
            # several inputs of a step: the event names the first, `input_artifacts` all of them.
            seen: set[int] = set()
            for name, artifact in record.inputs.items():
                if artifact.id not in seen:
                    seen.add(artifact.id)
                    edges.append((position, None, _event(pb_, pb_.Event.INPUT, name, artifact.id)))
            set_value(
                record.execution.custom_properties,
                "input_artifacts",
                json.dumps({name: artifact.id for name, artifact in record.inputs.items()}),
            )
            for name, artifact in record.outputs.items():
                # A reused (cached) output is listed too, so the run's context is attributed it.
                key = artifact.id or -id(artifact)
                if key not in index_of:
                    index_of[key] = len(artifacts)
                    artifacts.append(artifact)
                edges.append((position, index_of[key], _event(pb_, pb_.Event.OUTPUT, name)))
        execution_ids, artifact_ids, _ = self._store.put_lineage_subgraph(
            [record.execution for record in records], artifacts, self._contexts(run), edges
        )
        for record, execution_id in zip(records, execution_ids, strict=True):
            record.execution.id = execution_id
        for artifact, artifact_id in zip(artifacts, artifact_ids, strict=True):
            artifact.id = artifact_id

    def find_cached(self, cache_key: str) -> tuple[pb.Execution, dict[str, pb.Artifact]] | None:
        """The newest completed execution with this fingerprint, and its output artifacts
        (`CacheIndex` says when a rerun's records name an equally good one)."""
        from zenml_kf.metadata.cache_index import CacheIndex

        if self._run is not None and any(
            r.execution.last_known_state == COMPLETE
            and get_value(r.execution.custom_properties, "cache_fingerprint") == cache_key
            for r in self._queue
        ):
            self.flush(self._run)  # a step of this run with the same fingerprint is not written yet
        if self._cache_index is None:
            self._cache_index = CacheIndex(self._store, self._cache_window)
        execution = self._cache_index.newest_complete(cache_key)
        if execution is None:
            return None
        events = self._store.get_events_by_execution_ids([execution.id])
        names = {e.artifact_id: e.path.steps[0].key for e in events if e.type == self._pb.Event.OUTPUT}
        artifacts = self._store.get_artifacts_by_id(list(names))
        return execution, {names[a.id]: a for a in artifacts}


def _event(pb_: Any, kind: int, name: str, artifact_id: int = 0) -> Any:
    event = pb_.Event(type=kind)
    if artifact_id:
        event.artifact_id = artifact_id
    event.path.steps.add().key = name
    return event
