"""Writes runs to MLMD the way KFP's launcher does, plus zenml-kf's own properties.

Layout (KFP backend 2.5.0 conventions): a `system.Pipeline` context per pipeline with a
child `system.PipelineRun` context per run; a root `system.DAGExecution` whose state is
the run's status; one `system.ContainerExecution` per step with `task_name`,
`display_name`, `cache_fingerprint`, `cached_execution_id`, `inputs` and `parent_dag_id`;
artifacts typed by schema title with `display_name` = output name; INPUT/OUTPUT events
keyed by input/output name. Every call here is made by one thread per run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import MetadataStoreError, first_line
from zenml_kf.metadata.values import get_value, set_value

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore
    from ml_metadata.proto import metadata_store_pb2 as pb

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER_EXECUTION = "system.ContainerExecution"
DAG_EXECUTION = "system.DAGExecution"


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


class RecordingError(MetadataStoreError):
    """The metadata store failed a write (full disk, read-only file, lost server...)."""


def recording_error(exc: BaseException, where: str) -> RecordingError:
    """One line naming the store and the cause; MLMD appends the failed SQL, cut it off."""
    text = str(exc)
    start = text.find(" query: ", len("Error when executing query:"))
    cause = first_line(text[:start] if start > 0 else text)
    place = f" at {where}" if where else ""
    return RecordingError(f"cannot record the run in the metadata store{place} ({cause})")


class _GuardedStore:
    """The MLMD store with every failing call turned into a one-line RecordingError."""

    def __init__(self, store: MetadataStore, where: str) -> None:
        self._store = store
        self._where = where

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            from ml_metadata import errors

            try:
                return method(*args, **kwargs)
            except (errors.StatusError, RuntimeError, OSError) as exc:
                raise recording_error(exc, self._where) from None

        return call


ERROR_LIMIT = 2000


def recorded_error(error: str) -> str:
    """An error as a run records it: a step's exception text can run to megabytes; the
    step's log keeps it whole."""
    if len(error) <= ERROR_LIMIT:
        return error
    return error[: ERROR_LIMIT - 40] + " ... (cut; the step's log has it whole)"


class MetadataRecorder:
    def __init__(self, store: MetadataStore, where: str = "") -> None:
        """`where`: the store's address (a file, a server), named in error messages."""
        from ml_metadata.proto import metadata_store_pb2

        # MLMD logs each error it raises as a warning; ours say it in one line.
        logging.getLogger("absl").setLevel(logging.ERROR)
        self._raw = store
        self._store: Any = _GuardedStore(store, where)
        self._where = where
        self._pb = metadata_store_pb2
        self._type_ids: dict[tuple[str, str], int] = {}

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
        # write leaves no run behind, and a recorded run always has a state.
        dag.id, _, [_, run_ctx.id] = self._store.put_execution(dag, [], self._contexts(run))
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
            raise recording_error(exc, self._where) from None
        return context

    def finish_run(self, run: RunRecord, failed: bool, error: str = "") -> None:
        pb_ = self._pb
        run.dag_execution.last_known_state = pb_.Execution.FAILED if failed else pb_.Execution.COMPLETE
        set_value(run.dag_execution.custom_properties, "finished_at", time.time())
        if error:
            set_value(run.dag_execution.custom_properties, "error", recorded_error(error))
        self._store.put_execution(run.dag_execution, [], self._contexts(run))

    def start_step(self, run: RunRecord, task_name: str, properties: dict[str, Any]) -> pb.Execution:
        execution = self._new_execution(run, task_name, properties, self._pb.Execution.RUNNING)
        execution.id = self._store.put_execution(execution, [], self._contexts(run))[0]
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
        """Mark the step complete and record its outputs and both kinds of events at once."""
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
        ids = self._put(run, execution, inputs, new)
        for artifact, artifact_id in zip(new.values(), ids, strict=True):
            artifact.id = artifact_id
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
        """A cache hit: a CACHED execution pointing at the original execution and artifacts."""
        execution = self._new_execution(run, task_name, properties, self._pb.Execution.CACHED)
        set_value(execution.custom_properties, "cached_execution_id", str(cached.id))
        set_value(
            execution.custom_properties,
            "finished_at",
            get_value(execution.custom_properties, "started_at"),
        )
        set_value(execution.custom_properties, "outputs", {n: a.uri for n, a in outputs.items()})
        self._put(run, execution, inputs, outputs)
        return execution

    def fail_step(self, run: RunRecord, execution: pb.Execution, error: str, canceled: bool = False) -> None:
        state = self._pb.Execution.CANCELED if canceled else self._pb.Execution.FAILED
        execution.last_known_state = state
        set_value(execution.custom_properties, "finished_at", time.time())
        set_value(execution.custom_properties, "error", recorded_error(error))
        self._store.put_execution(execution, [], self._contexts(run))

    def _put(
        self,
        run: RunRecord,
        execution: pb.Execution,
        inputs: dict[str, pb.Artifact],
        outputs: dict[str, pb.Artifact],
    ) -> list[int]:
        """put_execution; returns the ids of `outputs` in order."""
        pb_ = self._pb
        # MLMD allows one INPUT event per artifact and execution, but one output may feed
        # several inputs of a step: the event names the first, `input_artifacts` all of them.
        pairs = []
        seen: set[int] = set()
        for name, artifact in inputs.items():
            if artifact.id not in seen:
                seen.add(artifact.id)
                pairs.append((artifact, _event(pb_, pb_.Event.INPUT, name)))
        set_value(
            execution.custom_properties,
            "input_artifacts",
            json.dumps({name: artifact.id for name, artifact in inputs.items()}),
        )
        inputs_count = len(pairs)
        pairs += [(a, _event(pb_, pb_.Event.OUTPUT, name)) for name, a in outputs.items()]
        execution_id, artifact_ids, _ = self._store.put_execution(execution, pairs, self._contexts(run))
        execution.id = execution_id
        return list(artifact_ids[inputs_count:])

    def find_cached(self, cache_key: str) -> tuple[pb.Execution, dict[str, pb.Artifact]] | None:
        """The newest completed execution with this fingerprint, and its output artifacts."""
        import ml_metadata as mlmd

        query = (
            f"custom_properties.cache_fingerprint.string_value = {json.dumps(cache_key)} "
            "AND last_known_state = COMPLETE"
        )
        found = self._store.get_executions(
            list_options=mlmd.ListOptions(
                filter_query=query, limit=1, order_by=mlmd.OrderByField.CREATE_TIME, is_asc=False
            )
        )
        if not found:
            return None
        execution = found[0]
        events = self._store.get_events_by_execution_ids([execution.id])
        names = {e.artifact_id: e.path.steps[0].key for e in events if e.type == self._pb.Event.OUTPUT}
        artifacts = self._store.get_artifacts_by_id(list(names))
        return execution, {names[a.id]: a for a in artifacts}


def _event(pb_: Any, kind: int, name: str) -> Any:
    event = pb_.Event(type=kind)
    event.path.steps.add().key = name
    return event
