"""The post-run API: pipelines, runs, steps and artifacts read back from MLMD.

`Repository().get_pipeline("p").runs[-1].get_step("trainer").output.read()`. Views are
loaded in a few batched MLMD queries per run and read artifacts through the stack's
artifact store.

Runs come from two writers. Our local orchestrator records a run with the pipeline graph
on its context (`pipeline_config`), timings and typed parameters. A KFP cluster's driver
and launcher record the runs it executes themselves, with less: the pipeline context is
named by the IR's `pipelineInfo.name` (`digits-pipeline`), steps by their KFP task name
(`load-data`), numbers come back as doubles, there are no timings, and the root DAG
execution's state is not the run's status. The views read both alike; the rules for KFP's
records are in `kfp_records`. For a cluster run, two optional sources fill what MLMD
lacks (see `MetadataReader`): the run's status from the KFP API, and the pipeline graph
the run was compiled from.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import MetadataStoreError
from zenml_kf.metadata import kfp_records as kfp
from zenml_kf.metadata.recorder import PIPELINE_CONTEXT, RUN_CONTEXT
from zenml_kf.metadata.values import get_value, properties
from zenml_kf.source import resolve_type

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore
    from ml_metadata.proto import metadata_store_pb2 as pb

    from zenml_kf.artifact_stores.base import BaseArtifactStore
    from zenml_kf.metadata.stale_runs import Owner
    from zenml_kf.pipelines.graph import OutputSpec, PipelineGraph, StepSpec


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CACHED = "cached"
    FAILED = "failed"
    CANCELED = "canceled"
    NOT_RUN = "not run"


RunStatusSource = Callable[[str], ExecutionStatus | None]
"""The status of a run by its id (a KFP run id), or None when the source does not know."""

GraphSource = Callable[[str], "PipelineGraph | None"]
"""The pipeline graph a run was compiled from, by run id, or None when unknown."""

_STATES = {
    2: ExecutionStatus.RUNNING,
    3: ExecutionStatus.COMPLETED,
    4: ExecutionStatus.FAILED,
    5: ExecutionStatus.CACHED,
    6: ExecutionStatus.CANCELED,
}
_FINISHED = {
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CACHED,
    ExecutionStatus.CANCELED,
}


def _status(state: int) -> ExecutionStatus:
    return _STATES.get(state, ExecutionStatus.RUNNING)


def status_from_steps(steps: Iterable[ExecutionStatus]) -> ExecutionStatus:
    """A run's status from its steps': for runs whose DAG execution cannot be trusted.

    Any failed step fails the run, then any canceled one cancels it, then a step still
    running (or one that has not started yet, NOT_RUN) keeps it running; a run whose
    steps all completed or came from the cache completed. A run with no steps recorded
    yet is running.
    """
    seen = set(steps)
    if not seen:
        return ExecutionStatus.RUNNING
    for status in (ExecutionStatus.FAILED, ExecutionStatus.CANCELED):
        if status in seen:
            return status
    if seen & {ExecutionStatus.RUNNING, ExecutionStatus.NOT_RUN}:
        return ExecutionStatus.RUNNING
    return ExecutionStatus.COMPLETED


class _Reader:
    """The store and artifact store views share; keeps protos out of the public surface."""

    def __init__(
        self,
        store: MetadataStore,
        artifact_store: BaseArtifactStore,
        run_status: RunStatusSource | None = None,
        graph_for_run: GraphSource | None = None,
        code_root: Path | None = None,
    ) -> None:
        from ml_metadata.proto import metadata_store_pb2

        self.store = store
        self.artifact_store = artifact_store
        self.pb = metadata_store_pb2
        self.run_status = run_status
        self.graph_for_run = graph_for_run
        self.code_root = code_root


class ArtifactView:
    def __init__(
        self,
        reader: _Reader,
        artifact: pb.Artifact,
        type_name: str,
        recorded_by_kfp: bool = False,
        declared: OutputSpec | None = None,
    ) -> None:
        """`recorded_by_kfp`: written by KFP's launcher; `declared`: the compiled output spec."""
        self._reader = reader
        self._artifact = artifact
        props = properties(artifact.custom_properties)
        self.id: int = artifact.id
        self.uri: str = artifact.uri
        self.name: str = props.pop("display_name", "")
        self.materializer: str = props.pop("materializer", "")
        self.data_type: str = props.pop("data_type", "")
        self.artifact_type = type_name
        if recorded_by_kfp:
            for key in kfp.KFP_ARTIFACT_PROPERTIES:
                props.pop(key, None)
            props = {key: kfp.unwrap_metadata(value) for key, value in props.items()}
            if not self.materializer and type_name == kfp.METRICS_ARTIFACT:
                self.materializer, found_type = kfp.metrics_reader(self.name, props, declared)
                self.data_type = self.data_type or found_type
        self.metadata: dict[str, Any] = props

    def read(self) -> Any:
        """Load the artifact's value with the materializer that wrote it.

        The repository's code root is on the import path meanwhile, so a materializer or a
        data type from the user's code loads whatever the current folder is.
        """
        from zenml_kf.exceptions import MaterializerError, SourceError
        from zenml_kf.materializers.registry import load_materializer
        from zenml_kf.source import code_root_on_path

        with code_root_on_path(self._reader.code_root):
            try:
                materializer = load_materializer(self.materializer)
            except SourceError as exc:
                raise MaterializerError(
                    f"artifact '{self.name}' was written by {self.materializer}, which cannot be "
                    f"imported here ({exc}); read it from the repository whose code wrote it, or "
                    "install that code"
                ) from exc
            data_type = resolve_type(self.data_type)
        with self._reader.artifact_store.reading(self.uri) as path:
            return materializer.load(path, data_type)

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
        spec: StepSpec | None = None,
        logs_uri: str = "",
    ) -> None:
        """`spec`: the compiled step, which types the parameters of a KFP-recorded step.

        `logs_uri`: where KFP's launcher uploaded the pod's log (its `executor-logs`
        artifact, kept out of `outputs`), '' when it did not.
        """
        self.name = name
        self._execution = execution
        props = properties(execution.custom_properties) if execution is not None else {}
        self.execution_id: int | None = execution.id if execution is not None else None
        self.status = _status(execution.last_known_state) if execution else ExecutionStatus.NOT_RUN
        self.task_name: str = props.get("task_name", "")
        self.pod_name: str = props.get("pod_name", "")
        self.parameters: dict[str, Any] = _parameters(props, spec)
        self.cache_key: str = props.get("cache_fingerprint", "")
        self.cached_execution_id: str = props.get("cached_execution_id", "")
        self.error: str = props.get("error", "")
        self.started_at, self.finished_at = _times(props, execution, self.status)
        self.inputs = inputs
        self.outputs = outputs
        self.logs_uri = logs_uri

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


def _parameters(props: dict[str, Any], spec: StepSpec | None) -> dict[str, Any]:
    """Local runs record the validated parameters as JSON; KFP records the `inputs` struct.

    KFP's values are typed by the compiled step spec when it is known (see
    `kfp_records.coerce_parameters`); without it numbers stay as MLMD holds them, doubles.
    """
    raw = props.get("parameters")
    if isinstance(raw, str):
        return dict(json.loads(raw))
    recorded = props.get("inputs") or {}
    if spec is None:
        return dict(recorded)
    return kfp.coerce_parameters(recorded, spec.parameter_types, spec.parameters)


def _times(
    props: dict[str, Any], execution: pb.Execution | None, status: ExecutionStatus
) -> tuple[float | None, float | None]:
    """Start and end (epoch seconds): ours where recorded, else MLMD's own timestamps.

    KFP records no timings: its driver creates the execution before the pod is scheduled
    and the launcher (or the driver, for a cache hit) updates it last when publishing, so
    create and last-update time (milliseconds) bound the step, pod start-up included.
    A step that has not finished has no end.
    """
    started, finished = props.get("started_at"), props.get("finished_at")
    if execution is None:
        return started, finished
    if started is None and execution.create_time_since_epoch:
        started = execution.create_time_since_epoch / 1000
    if finished is None and status in _FINISHED and execution.last_update_time_since_epoch:
        finished = execution.last_update_time_since_epoch / 1000
    return started, finished


class PipelineRunView:
    def __init__(self, reader: _Reader, context: pb.Context, pipeline_context: str | None = None) -> None:
        """`pipeline_context`: the name of the run's pipeline context, when the caller knows it."""
        self._reader = reader
        self._context = context
        self._pipeline_context = pipeline_context
        props = properties(context.custom_properties)
        self.id: str = context.name
        self.name: str = context.name
        self.recorded_by_kfp: bool = kfp.is_kfp_run(props)
        self._pipeline_name: str = props.get("pipeline_name", "")
        self.git_commit: str | None = props.get("git_commit") or None
        self.git_dirty: bool | None = props.get("git_dirty")
        self.pipeline_root: str = props.get("pipeline_root", "")
        self.namespace: str = props.get("namespace", "")
        self.created = datetime.fromtimestamp(context.create_time_since_epoch / 1000, tz=UTC)
        self.config: dict[str, Any] = json.loads(props.get("pipeline_config") or "{}")
        self.stack: dict[str, Any] = json.loads(props.get("stack") or "{}")

    @functools.cached_property
    def graph(self) -> PipelineGraph | None:
        """The graph the run was compiled from: recorded by local runs, asked for for KFP runs."""
        if not self.recorded_by_kfp:
            from zenml_kf.pipelines.graph import PipelineGraph

            return PipelineGraph.model_validate(self.config) if self.config else None
        source = self._reader.graph_for_run
        return source(self.id) if source is not None else None

    @property
    def pipeline_name(self) -> str:
        """The Python pipeline name; for a KFP run without its graph, its MLMD pipeline context's."""
        if self._pipeline_name:
            return self._pipeline_name
        if self.recorded_by_kfp and self.graph is not None:
            return self.graph.name
        if self._pipeline_context is None:
            parents = self._reader.store.get_parent_contexts_by_context(self._context.id)
            self._pipeline_context = parents[0].name if parents else ""
        return self._pipeline_context

    def _step_specs(self) -> dict[str, StepSpec]:
        """Compiled step specs by KFP task name, for KFP runs whose graph is known."""
        graph = self.graph if self.recorded_by_kfp else None
        return {kfp.k8s_name(s.name): s for s in graph.steps} if graph is not None else {}

    @functools.cached_property
    def _loaded(self) -> tuple[pb.Execution | None, dict[str, StepView], dict[int, StepView]]:
        store, pb_ = self._reader.store, self._reader.pb
        executions = store.get_executions_by_context(self._context.id)
        dag_type = store.get_execution_type("system.DAGExecution").id
        dag = next((e for e in executions if e.type_id == dag_type), None)
        steps = sorted((e for e in executions if e.type_id != dag_type), key=lambda e: e.id)
        events = store.get_events_by_execution_ids([e.id for e in steps]) if steps else []
        specs = self._step_specs()
        names = {e.id: self._step_name(e, specs) for e in steps}
        artifacts = self._artifacts(events, specs, names)
        by_name: dict[str, StepView] = {}
        by_id: dict[int, StepView] = {}
        for execution in steps:
            mine = [e for e in events if e.execution_id == execution.id]
            input_ids = get_value(execution.custom_properties, "input_artifacts")
            if input_ids:  # every input, also several fed by one artifact
                ins = {name: artifacts[int(i)] for name, i in json.loads(input_ids).items()}
            else:  # written by KFP's launcher: one event per input
                ins = {
                    e.path.steps[0].key: artifacts[e.artifact_id] for e in mine if e.type == pb_.Event.INPUT
                }
            outs = {e.path.steps[0].key: artifacts[e.artifact_id] for e in mine if e.type == pb_.Event.OUTPUT}
            logs = outs.pop(kfp.EXECUTOR_LOGS, None) if self.recorded_by_kfp else None
            name = names[execution.id]
            spec = specs.get(kfp.k8s_name(name))
            view = StepView(name, execution, ins, outs, spec, logs.uri if logs is not None else "")
            by_name[name] = view
            by_id[execution.id] = view
        return dag, by_name, by_id

    def _step_name(self, execution: pb.Execution, specs: dict[str, StepSpec]) -> str:
        """Our step name: the task name, or for KFP runs the Python name behind it when known.

        KFP records the task name (`task_name`: the DAG task key on 2.14, `taskInfo.name`
        before; our compiler makes them one, `load_data` -> `load-data`), never the Python
        name, which the compiled graph gives back.
        """
        task = str(get_value(execution.custom_properties, "task_name", ""))
        spec = specs.get(task)
        return spec.name if spec is not None else task

    def _artifacts(
        self, events: list[pb.Event], specs: dict[str, StepSpec], names: dict[int, str]
    ) -> dict[int, ArtifactView]:
        """Every artifact the run's steps read or wrote, once each, with its compiled output spec."""
        store, pb_ = self._reader.store, self._reader.pb
        artifact_ids = sorted({e.artifact_id for e in events})
        found, types = (
            store.get_artifacts_and_types_by_artifact_ids(artifact_ids) if artifact_ids else ([], [])
        )
        type_names = {t.id: t.name for t in types}
        declared: dict[int, OutputSpec] = {}
        for event in events:
            spec = specs.get(kfp.k8s_name(names.get(event.execution_id, "")))
            key = event.path.steps[0].key if event.path.steps else ""
            if event.type == pb_.Event.OUTPUT and spec is not None:
                match = [out for out in spec.outputs if out.name == key]
                if match:
                    declared[event.artifact_id] = match[0]
        return {
            a.id: ArtifactView(
                self._reader, a, type_names[a.type_id], self.recorded_by_kfp, declared.get(a.id)
            )
            for a in found
        }

    @property
    def status(self) -> ExecutionStatus:
        """The run's status.

        Local runs: their DAG execution's state, which the orchestrator keeps. KFP runs:
        the status source given to `MetadataReader` when it knows, otherwise derived from
        the steps (`status_from_steps`): KFP's launcher updates the root DAG execution
        from a task count the root never gets, so it is never marked complete and is
        marked COMPLETE when the first task to finish failed (`UpdateDAGExecutionsState`,
        backend/src/v2/metadata/client.go at 2.5.0 and 2.14.0). Without the graph a step
        whose driver has not started yet is not known, so a run between two steps may
        read completed until the next one starts; and a run terminated in KFP leaves its
        steps RUNNING in MLMD, which only the KFP API can tell.
        """
        dag = self._loaded[0]
        if not self.recorded_by_kfp:
            return _status(dag.last_known_state) if dag is not None else ExecutionStatus.RUNNING
        source = self._reader.run_status
        known = source(self.id) if source is not None else None
        if known is not None:
            return known
        return status_from_steps(step.status for step in self.steps.values())

    @property
    def steps(self) -> dict[str, StepView]:
        """Every step of the pipeline in graph order; steps that never started are NOT_RUN.

        Keyed by Python step name; a KFP run whose graph is unknown is keyed by task name
        (`load-data`), and `get_step` takes either name.
        """
        recorded = self._loaded[1]
        graph = self.graph if self.recorded_by_kfp else None
        order = [s.name for s in graph.steps] if graph else [s["name"] for s in self.config.get("steps", [])]
        order = order or list(recorded)
        views = {name: recorded.get(name) or StepView(name, None, {}, {}) for name in order}
        views.update({n: v for n, v in recorded.items() if n not in views})
        return views

    @property
    def owner(self) -> Owner | None:
        """The process recording a local run (host, pid, start), as `stale_runs` keeps it; None for KFP's."""
        from zenml_kf.metadata.stale_runs import owner_of

        return owner_of(self._context)

    def get_step(self, name: str) -> StepView:
        """A step by its Python name or its KFP task name (`load_data` or `load-data`)."""
        steps = self.steps
        if name in steps:
            return steps[name]
        matches = [view for key, view in steps.items() if kfp.same_name(key, name)]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(f"run '{self.id}' has no step '{name}'; its steps are: {', '.join(steps)}")

    def step_by_execution_id(self, execution_id: int) -> StepView:
        return self._loaded[2][execution_id]

    def __repr__(self) -> str:
        return f"PipelineRunView(id={self.id!r}, status={self.status.value!r})"


class PipelineView:
    def __init__(self, reader: _Reader, contexts: list[pb.Context], name: str | None = None) -> None:
        """One pipeline, under one or two MLMD contexts.

        A pipeline run locally is recorded under its own name (`digits_pipeline`) and run
        on KFP under its Kubernetes form (`digits-pipeline`): both hold its runs.
        """
        self._reader = reader
        self._contexts = contexts
        self.name: str = name or contexts[0].name

    @property
    def runs(self) -> list[PipelineRunView]:
        """All runs, oldest first, so `runs[-1]` is the latest."""
        runs = [
            PipelineRunView(self._reader, child, context.name)
            for context in self._contexts
            for child in self._reader.store.get_children_contexts_by_context(context.id)
        ]
        return sorted(runs, key=lambda r: (r._context.create_time_since_epoch, r._context.id))

    def __repr__(self) -> str:
        return f"PipelineView(name={self.name!r})"


class MetadataReader:
    """Entry point of the post-run API over one metadata store and artifact store."""

    def __init__(
        self,
        store: MetadataStore,
        artifact_store: BaseArtifactStore,
        run_status: RunStatusSource | None = None,
        graph_for_run: GraphSource | None = None,
        code_root: Path | None = None,
    ) -> None:
        """Read runs from `store`, their artifacts through `artifact_store`.

        For runs a KFP cluster recorded, optional sources fill in what MLMD does not say:
        `run_status(run_id)` gives the run's status (e.g. from the KFP API; None means
        unknown, and the status is derived from the steps), and `graph_for_run(run_id)`
        the pipeline graph the run was compiled from (e.g. `kfp_records.graph_from_ir` on
        the pipeline spec KFP keeps with the run), which keys steps by their Python names,
        types their parameters and names the readers of metrics artifacts. Both are asked
        lazily, at most once per run view; errors they raise propagate. `code_root` (the
        repository's root) is where user-defined materializers and types are imported from.
        """
        self._reader = _Reader(store, artifact_store, run_status, graph_for_run, code_root)

    def pipelines(self) -> list[PipelineView]:
        contexts = self._reader.store.get_contexts_by_type(PIPELINE_CONTEXT)
        return [PipelineView(self._reader, [c]) for c in sorted(contexts, key=lambda c: c.name)]

    def pipeline(self, name: str) -> PipelineView:
        """A pipeline by its name, with the runs KFP recorded under its Kubernetes form too."""
        contexts = []
        for candidate in dict.fromkeys(n for n in (name, kfp.k8s_name(name)) if n):
            context = self._reader.store.get_context_by_type_and_name(PIPELINE_CONTEXT, candidate)
            if context is not None:
                contexts.append(context)
        if not contexts:
            known = ", ".join(p.name for p in self.pipelines()) or "none yet"
            raise MetadataStoreError(
                f"no pipeline named '{name}' has run on this stack; known pipelines: {known}"
            )
        return PipelineView(self._reader, contexts, name)

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
                shown = ", ".join(r.id for r in matches[-3:]) + (", ..." if len(matches) > 3 else "")
                raise MetadataStoreError(
                    f"'{run_id}' matches {len(matches)} runs ({shown}); give more of the run id"
                )
            raise MetadataStoreError(f"no run '{run_id}' on this stack; 'zenml runs list' shows the runs")
        return PipelineRunView(self._reader, context)
