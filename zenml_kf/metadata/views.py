"""The post-run API: pipelines, runs, steps and artifacts read back from MLMD.

`Repository().get_pipeline("p").runs[-1].get_step("trainer").output.read()`. Views are
loaded in a few batched MLMD queries per run and read artifacts through the stack's
artifact store.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import MetadataStoreError
from zenml_kf.metadata.recorder import PIPELINE_CONTEXT, RUN_CONTEXT
from zenml_kf.metadata.values import get_value, properties
from zenml_kf.source import resolve_type

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore
    from ml_metadata.proto import metadata_store_pb2 as pb

    from zenml_kf.artifact_stores.base import BaseArtifactStore


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CACHED = "cached"
    FAILED = "failed"
    CANCELED = "canceled"
    NOT_RUN = "not run"


_STATES = {
    2: ExecutionStatus.RUNNING,
    3: ExecutionStatus.COMPLETED,
    4: ExecutionStatus.FAILED,
    5: ExecutionStatus.CACHED,
    6: ExecutionStatus.CANCELED,
}


def _status(state: int) -> ExecutionStatus:
    return _STATES.get(state, ExecutionStatus.RUNNING)


class _Reader:
    """The store and artifact store views share; keeps protos out of the public surface."""

    def __init__(self, store: MetadataStore, artifact_store: BaseArtifactStore) -> None:
        from ml_metadata.proto import metadata_store_pb2

        self.store = store
        self.artifact_store = artifact_store
        self.pb = metadata_store_pb2


class ArtifactView:
    def __init__(self, reader: _Reader, artifact: pb.Artifact, type_name: str) -> None:
        self._reader = reader
        self._artifact = artifact
        props = properties(artifact.custom_properties)
        self.id: int = artifact.id
        self.uri: str = artifact.uri
        self.name: str = props.pop("display_name", "")
        self.materializer: str = props.pop("materializer", "")
        self.data_type: str = props.pop("data_type", "")
        self.artifact_type = type_name
        self.metadata: dict[str, Any] = props

    def read(self) -> Any:
        """Load the artifact's value with the materializer that wrote it."""
        from zenml_kf.materializers.registry import load_materializer

        materializer = load_materializer(self.materializer)
        with self._reader.artifact_store.reading(self.uri) as path:
            return materializer.load(path, resolve_type(self.data_type))

    @functools.cached_property
    def producer_step(self) -> StepView:
        """The step execution that wrote this artifact (not a later cache hit on it)."""
        pb_ = self._reader.pb
        events = self._reader.store.get_events_by_artifact_ids([self.id])
        ids = [e.execution_id for e in events if e.type == pb_.Event.OUTPUT]
        executions = self._reader.store.get_executions_by_id(ids)
        original = [e for e in executions if e.last_known_state == pb_.Execution.COMPLETE]
        execution = min(original or executions, key=lambda e: e.id)
        run_type = _context_type_id(self._reader, RUN_CONTEXT)
        [run_ctx] = [
            c for c in self._reader.store.get_contexts_by_execution(execution.id) if c.type_id == run_type
        ]
        run = PipelineRunView(self._reader, run_ctx)
        return run.step_by_execution_id(execution.id)

    def __repr__(self) -> str:
        return f"ArtifactView(name={self.name!r}, data_type={self.data_type!r}, uri={self.uri!r})"


def _context_type_id(reader: _Reader, name: str) -> int:
    return int(reader.store.get_context_type(name).id)


class StepView:
    def __init__(
        self,
        name: str,
        execution: pb.Execution | None,
        inputs: dict[str, ArtifactView],
        outputs: dict[str, ArtifactView],
    ) -> None:
        self.name = name
        self._execution = execution
        props = properties(execution.custom_properties) if execution is not None else {}
        self.execution_id: int | None = execution.id if execution is not None else None
        self.status = _status(execution.last_known_state) if execution else ExecutionStatus.NOT_RUN
        raw = props.get("parameters")
        self.parameters: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else props.get("inputs", {})
        self.cache_key: str = props.get("cache_fingerprint", "")
        self.cached_execution_id: str = props.get("cached_execution_id", "")
        self.error: str = props.get("error", "")
        self.started_at: float | None = props.get("started_at")
        self.finished_at: float | None = props.get("finished_at")
        self.inputs = inputs
        self.outputs = outputs

    @property
    def is_cached(self) -> bool:
        return self.status == ExecutionStatus.CACHED

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return float(self.finished_at) - float(self.started_at)

    @property
    def output(self) -> ArtifactView:
        """The only output; steps with several outputs name them in `.outputs`."""
        if len(self.outputs) != 1:
            names = ", ".join(self.outputs) or "none"
            raise ValueError(f"step '{self.name}' has outputs {names}; pick one with .outputs[NAME]")
        return next(iter(self.outputs.values()))

    def __repr__(self) -> str:
        return f"StepView(name={self.name!r}, status={self.status.value!r})"


class PipelineRunView:
    def __init__(self, reader: _Reader, context: pb.Context) -> None:
        self._reader = reader
        self._context = context
        props = properties(context.custom_properties)
        self.id: str = context.name
        self.name: str = context.name
        self.pipeline_name: str = props.get("pipeline_name", "")
        self.git_commit: str | None = props.get("git_commit") or None
        self.git_dirty: bool | None = props.get("git_dirty")
        self.pipeline_root: str = props.get("pipeline_root", "")
        self.created = datetime.fromtimestamp(context.create_time_since_epoch / 1000, tz=UTC)
        self.config: dict[str, Any] = json.loads(props.get("pipeline_config") or "{}")
        self.stack: dict[str, Any] = json.loads(props.get("stack") or "{}")

    @functools.cached_property
    def _loaded(self) -> tuple[pb.Execution | None, dict[str, StepView], dict[int, StepView]]:
        store, pb_ = self._reader.store, self._reader.pb
        executions = store.get_executions_by_context(self._context.id)
        dag_type = store.get_execution_type("system.DAGExecution").id
        dag = next((e for e in executions if e.type_id == dag_type), None)
        steps = [e for e in executions if e.type_id != dag_type]
        events = store.get_events_by_execution_ids([e.id for e in steps]) if steps else []
        artifact_ids = sorted({e.artifact_id for e in events})
        found, types = (
            store.get_artifacts_and_types_by_artifact_ids(artifact_ids) if artifact_ids else ([], [])
        )
        type_names = {t.id: t.name for t in types}
        artifacts = {a.id: ArtifactView(self._reader, a, type_names[a.type_id]) for a in found}
        by_name: dict[str, StepView] = {}
        by_id: dict[int, StepView] = {}
        for execution in sorted(steps, key=lambda e: e.id):
            input_ids = get_value(execution.custom_properties, "input_artifacts")
            if input_ids:  # every input, also several fed by one artifact
                ins = {name: artifacts[int(i)] for name, i in json.loads(input_ids).items()}
            else:  # written by KFP's launcher: one event per input
                ins = {
                    e.path.steps[0].key: artifacts[e.artifact_id]
                    for e in events
                    if e.execution_id == execution.id and e.type == pb_.Event.INPUT
                }
            outs = {
                e.path.steps[0].key: artifacts[e.artifact_id]
                for e in events
                if e.execution_id == execution.id and e.type == pb_.Event.OUTPUT
            }
            name = get_value(execution.custom_properties, "task_name", "")
            view = StepView(name, execution, ins, outs)
            by_name[name] = view
            by_id[execution.id] = view
        return dag, by_name, by_id

    @property
    def status(self) -> ExecutionStatus:
        dag = self._loaded[0]
        return _status(dag.last_known_state) if dag is not None else ExecutionStatus.RUNNING

    @property
    def steps(self) -> dict[str, StepView]:
        """Every step of the pipeline in graph order; steps that never started are NOT_RUN."""
        recorded = self._loaded[1]
        order = [s["name"] for s in self.config.get("steps", [])] or list(recorded)
        views = {name: recorded.get(name) or StepView(name, None, {}, {}) for name in order}
        views.update({n: v for n, v in recorded.items() if n not in views})
        return views

    def get_step(self, name: str) -> StepView:
        steps = self.steps
        if name not in steps:
            raise KeyError(f"run '{self.id}' has no step '{name}'; its steps are: {', '.join(steps)}")
        return steps[name]

    def step_by_execution_id(self, execution_id: int) -> StepView:
        return self._loaded[2][execution_id]

    def __repr__(self) -> str:
        return f"PipelineRunView(id={self.id!r}, status={self.status.value!r})"


class PipelineView:
    def __init__(self, reader: _Reader, context: pb.Context) -> None:
        self._reader = reader
        self._context = context
        self.name: str = context.name

    @property
    def runs(self) -> list[PipelineRunView]:
        """All runs, oldest first, so `runs[-1]` is the latest."""
        children = self._reader.store.get_children_contexts_by_context(self._context.id)
        runs = [PipelineRunView(self._reader, c) for c in children]
        return sorted(runs, key=lambda r: (r._context.create_time_since_epoch, r._context.id))

    def __repr__(self) -> str:
        return f"PipelineView(name={self.name!r})"


class MetadataReader:
    """Entry point of the post-run API over one metadata store and artifact store."""

    def __init__(self, store: MetadataStore, artifact_store: BaseArtifactStore) -> None:
        self._reader = _Reader(store, artifact_store)

    def pipelines(self) -> list[PipelineView]:
        contexts = self._reader.store.get_contexts_by_type(PIPELINE_CONTEXT)
        return [PipelineView(self._reader, c) for c in sorted(contexts, key=lambda c: c.name)]

    def pipeline(self, name: str) -> PipelineView:
        context = self._reader.store.get_context_by_type_and_name(PIPELINE_CONTEXT, name)
        if context is None:
            known = ", ".join(p.name for p in self.pipelines()) or "none yet"
            raise MetadataStoreError(
                f"no pipeline named '{name}' has run on this stack; known pipelines: {known}"
            )
        return PipelineView(self._reader, context)

    def runs(self, pipeline: str | None = None) -> list[PipelineRunView]:
        if pipeline is not None:
            return self.pipeline(pipeline).runs
        contexts = self._reader.store.get_contexts_by_type(RUN_CONTEXT)
        runs = [PipelineRunView(self._reader, c) for c in contexts]
        return sorted(runs, key=lambda r: (r._context.create_time_since_epoch, r._context.id))

    def run(self, run_id: str) -> PipelineRunView:
        context = self._reader.store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
        if context is None:
            matches = [r for r in self.runs() if r.id.startswith(run_id)]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise MetadataStoreError(f"'{run_id}' matches {len(matches)} runs; give more of the run id")
            raise MetadataStoreError(f"no run '{run_id}' on this stack; 'zenml runs list' shows the runs")
        return PipelineRunView(self._reader, context)
