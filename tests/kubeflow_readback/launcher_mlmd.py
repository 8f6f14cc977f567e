"""ML Metadata written the way a KFP cluster's driver and launcher record a run.

No KFP cluster can run here, so this helper plays the backend: given a pipeline our
compiler produced, it records a run in a real MLMD store (a sqlite file, or the gRPC test
server in front of one) with the same requests the Go code sends, and puts the artifacts
in a real bucket (moto S3, fake-gcs-server) the way the launcher uploads them. The step
code itself really runs, once, through `python -m zenml_kf.entrypoint` with an
ExecutorInput shaped like the launcher's (`run_pods`); `record_run` then records any
number of runs of those pod results.

Every rule cites the file and tag of github.com/kubeflow/pipelines it comes from
(backend 2.5.0 and 2.14.0; `version` picks one). Paths below are under `backend/src/v2/`.
Simplifications, none of which the post-run API can observe: pods are given local
folders instead of the launcher's `/gcs/`, `/s3/`, `/minio/` mounts (the executor output
therefore names local URIs, which the launcher's merge would have overwritten with the
same bucket URI it provisioned), and the cache fingerprint hashes fewer fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

Version = Literal["2.5", "2.14"]
VERSIONS: tuple[Version, ...] = ("2.5", "2.14")

# --- MLMD type names and property keys: metadata/client.go at 2.5.0 and 2.14.0 ---------------
PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER_EXECUTION = "system.ContainerExecution"
DAG_EXECUTION = "system.DAGExecution"

# provisionOutputs (driver/driver.go at 2.5.0 and 2.14.0): with publish logs on (the
# driver flag's default, and PUBLISH_LOGS=true in manifests/kustomize/base/pipeline/
# ml-pipeline-apiserver-deployment.yaml at 2.5.0) every container task gets this output.
EXECUTOR_LOGS = "executor-logs"
# GetPipeline passes a fixed run resource: `"run-resource"` in RootDAG (driver/driver.go
# at 2.5.0, driver/root_dag.go at 2.14.0).
RUN_RESOURCE = "run-resource"
# component.OutputMetadataFilepath (component/launcher_v2.go at 2.5.0): where the
# executor writes its ExecutorOutput inside the pod.
OUTPUT_METADATA_FILE = "/tmp/kfp_outputs/output_metadata.json"


# --- the compiled pipeline ---------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One task of the root DAG with its component and container spec."""

    key: str
    spec: dict[str, Any]
    component: dict[str, Any]
    container: dict[str, Any]

    @property
    def info_name(self) -> str:
        return str(self.spec["taskInfo"]["name"])

    @property
    def upstream(self) -> list[str]:
        return list(self.spec.get("dependentTasks", []))

    @property
    def enable_cache(self) -> bool:
        return bool(self.spec.get("cachingOptions", {}).get("enableCache", False))

    @property
    def parameter_inputs(self) -> dict[str, str]:
        """Task input parameter -> the root input it reads (`componentInputParameter`)."""
        params = self.spec.get("inputs", {}).get("parameters", {})
        return {name: p["componentInputParameter"] for name, p in params.items()}

    @property
    def artifact_inputs(self) -> dict[str, tuple[str, str]]:
        """Task input artifact -> (producer task, its output key)."""
        arts = self.spec.get("inputs", {}).get("artifacts", {})
        return {
            name: (a["taskOutputArtifact"]["producerTask"], a["taskOutputArtifact"]["outputArtifactKey"])
            for name, a in arts.items()
        }

    @property
    def outputs(self) -> dict[str, str]:
        """Output artifact -> schema title (the MLMD artifact type)."""
        arts = self.component.get("outputDefinitions", {}).get("artifacts", {})
        return {name: a["artifactType"]["schemaTitle"] for name, a in sorted(arts.items())}


@dataclass(frozen=True)
class CompiledPipeline:
    path: Path
    ir: dict[str, Any]

    @property
    def name(self) -> str:
        """`pipelineInfo.name`: the argo compiler passes it as the drivers' and launcher's
        `--pipeline_name` (compiler/argocompiler/container.go at 2.5.0), so it names the
        pipeline context."""
        return str(self.ir["pipelineInfo"]["name"])

    @property
    def tasks(self) -> list[Task]:
        """The root DAG's tasks, each after the tasks it depends on."""
        dag = self.ir["root"]["dag"]["tasks"]
        executors = self.ir["deploymentSpec"]["executors"]
        tasks: dict[str, Task] = {}
        for key, spec in dag.items():
            component = self.ir["components"][spec["componentRef"]["name"]]
            container = executors[component["executorLabel"]]["container"]
            tasks[key] = Task(key, spec, component, container)
        ordered: list[Task] = []
        while len(ordered) < len(tasks):
            for key in sorted(tasks):
                task = tasks[key]
                if task not in ordered and all(u in {t.key for t in ordered} for u in task.upstream):
                    ordered.append(task)
        return ordered

    def root_parameters(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The run's parameter values: the compiled defaults, then the values submitted."""
        params = self.ir["root"].get("inputDefinitions", {}).get("parameters", {})
        values = {name: p["defaultValue"] for name, p in params.items() if "defaultValue" in p}
        values.update(overrides or {})
        return values


def load_compiled(path: Path) -> CompiledPipeline:
    return CompiledPipeline(path, next(yaml.safe_load_all(path.read_text())))


# --- values: metadata/converter.go at 2.5.0 ------------------------------------------------------


def struct_value(value: Any) -> Any:
    """A JSON value as a google.protobuf.Value (numbers are doubles)."""
    from google.protobuf import json_format, struct_pb2

    return json_format.ParseDict(value, struct_pb2.Value())


def mlmd_value(value: Any) -> Any:
    """`StructValueToMLMDValue`: string -> string, number -> double, bool -> int 0/1, list ->
    struct {"list": [...]}, struct -> struct {"struct": {...}}; null is an error."""
    from google.protobuf import struct_pb2
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return mlmd.Value(string_value=value.string_value)
    if kind == "number_value":
        return mlmd.Value(double_value=value.number_value)
    if kind == "bool_value":
        return mlmd.Value(int_value=1 if value.bool_value else 0)
    if kind in ("list_value", "struct_value"):
        wrapped = struct_pb2.Struct()
        wrapped.fields["list" if kind == "list_value" else "struct"].CopyFrom(value)
        return mlmd.Value(struct_value=wrapped)
    raise ValueError(f"unknown/unsupported value type {kind}")


def runtime_value(value: Any) -> Any:
    """`toRuntimeArtifact`'s `propertiesToMetadata`: an MLMD property as the next task's
    input artifact metadata (int and double -> number, struct -> struct, string -> string)."""
    from google.protobuf import struct_pb2

    kind = value.WhichOneof("value")
    if kind == "string_value":
        return struct_pb2.Value(string_value=value.string_value)
    if kind == "double_value":
        return struct_pb2.Value(number_value=value.double_value)
    if kind == "int_value":
        return struct_pb2.Value(number_value=float(value.int_value))
    if kind == "struct_value":
        return struct_pb2.Value(struct_value=value.struct_value)
    raise ValueError(f"unknown property type in MLMD artifact: {kind}")


def struct_of(fields: Mapping[str, Any]) -> Any:
    """A google.protobuf.Struct of protobuf Values."""
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.SetInParent()
    for name, value in fields.items():
        struct.fields[name].CopyFrom(value)
    return struct


def generate_output_uri(root: str, *paths: str) -> str:
    """`GenerateOutputURI` (metadata/client.go at 2.5.0): root + '/' + the joined paths
    (not path.Join on the root, which would eat the scheme's '//'). Query strings are not
    used here."""
    return f"{root.rstrip('/')}/{'/'.join(p.strip('/') for p in paths)}"


def session_info(pipeline_root: str, endpoint: str = "") -> str:
    """`store_session_info`: JSON of objectstore.SessionInfo from the kfp-launcher config
    (`GetStoreSessionInfo`, config/env.go, config/gcs.go, config/s3.go at 2.5.0; the default
    MinIO one from `getDefaultMinioSessionInfo`). Go's json.Marshal: compact, map keys sorted."""
    scheme = pipeline_root.partition("://")[0]
    if scheme == "gs":
        info: dict[str, Any] = {"Provider": "gs", "Params": {"fromEnv": "true"}}
    elif scheme == "s3":
        info = {
            "Provider": "s3",
            "Params": {
                "accessKeyKey": "AWS_ACCESS_KEY_ID",
                "disableSSL": "true",
                "endpoint": endpoint,
                "forcePathStyle": "true",
                "fromEnv": "false",
                "region": "us-east-1",
                "secretKeyKey": "AWS_SECRET_ACCESS_KEY",
                "secretName": "zenml-kf-s3",
            },
        }
    else:
        info = {
            "Provider": "minio",
            "Params": {
                "accessKeyKey": "accesskey",
                "disableSSL": "true",
                "endpoint": "minio-service.kubeflow:9000",
                "fromEnv": "false",
                "region": "minio",
                "secretKeyKey": "secretkey",
                "secretName": "mlpipeline-minio-artifact",
            },
        }
    return json.dumps(info, separators=(",", ":"), sort_keys=True)


# --- pods: the real step code through the entrypoint -------------------------------------------


@dataclass(frozen=True)
class PodOutput:
    folder: Path
    metadata: Any  # google.protobuf.Struct: the executor output's metadata of this artifact


@dataclass(frozen=True)
class PodRun:
    task: str
    outputs: dict[str, PodOutput]
    log_file: Path  # the pod's stdout and stderr, as the launcher's log writer saves them
    parameters: dict[str, Any]


def run_pods(
    pipeline: CompiledPipeline, workdir: Path, code_root: Path, parameters: Mapping[str, Any] | None = None
) -> dict[str, PodRun]:
    """Run every task's container command once, as the launcher runs it, in task order.

    The ExecutorInput has the resolved parameter values and, for each input, the producer's
    artifact with the metadata it would have in MLMD read back by the next driver
    (`mlmd_value` then `runtime_value`). Raises when a step fails.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    root_values = pipeline.root_parameters(parameters)
    pods: dict[str, PodRun] = {}
    for task in pipeline.tasks:
        folder = workdir / pipeline.name / task.key
        folder.mkdir(parents=True, exist_ok=True)
        executor_input = pipeline_spec_pb2.ExecutorInput()
        params = {name: root_values[source] for name, source in task.parameter_inputs.items()}
        for name, value in params.items():
            executor_input.inputs.parameter_values[name].CopyFrom(struct_value(value))
        for name, (producer, key) in task.artifact_inputs.items():
            produced = pods[producer].outputs[key]
            artifact = executor_input.inputs.artifacts[name].artifacts.add()
            artifact.name = "0"
            artifact.uri = str(produced.folder)
            for meta_key, meta_value in produced.metadata.fields.items():
                artifact.metadata.fields[meta_key].CopyFrom(runtime_value(mlmd_value(meta_value)))
        for name, title in task.outputs.items():
            artifact = executor_input.outputs.artifacts[name].artifacts.add()
            artifact.uri = str(folder / name)
            artifact.type.schema_title = title
        output_file = folder / "output_metadata.json"
        executor_input.outputs.output_file = str(output_file)
        # `{{$}}` becomes the ExecutorInput as protojson (getPlaceholders, component/
        # launcher_v2.go at 2.5.0; compileCmdAndArgs at 2.14.0).
        rendered = json_format.MessageToJson(executor_input, indent=None)
        command = [sys.executable if part == "python" else part for part in task.container["command"]]
        args = [rendered if arg == "{{$}}" else arg for arg in task.container["args"]]
        proc = subprocess.run(
            [*command, *args],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(code_root)},
            cwd="/",
            timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"step {task.key} failed:\n{proc.stderr.decode()}")
        # getExecutorOutputFile: protojson.Unmarshal of the output file (strict JSON).
        output = json_format.Parse(output_file.read_text(), pipeline_spec_pb2.ExecutorOutput())
        outputs = {
            name: PodOutput(folder / name, output.artifacts[name].artifacts[0].metadata)
            for name in task.outputs
        }
        log_file = folder / "pod.log"  # getLogWriter: stdout and stderr into one file
        log_file.write_bytes(proc.stdout + proc.stderr)
        pods[task.key] = PodRun(task.key, outputs, log_file, params)
    return pods


# --- buckets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketWriter:
    """Puts objects in the bucket of a pipeline root (`put(key, local_file)`)."""

    bucket: str
    put: Callable[[str, Path], None]

    def key_of(self, uri: str) -> str:
        """`KeyFromURI` (objectstore/config.go at 2.5.0): the object key is the URI's path."""
        _, _, rest = uri.partition("://")
        bucket, _, key = rest.partition("/")
        assert bucket == self.bucket, (uri, self.bucket)
        return key

    def upload(self, local: Path, uri: str) -> None:
        """`UploadBlob` (objectstore/object_store.go at 2.5.0): a file as one object, a folder
        file by file in `os.ReadDir` order (sorted by name), sub-folders recursively."""
        key = self.key_of(uri)
        if local.is_file():
            self.put(key, local)
            return
        for entry in sorted(local.iterdir(), key=lambda p: p.name.encode()):
            self.upload(entry, f"{uri}/{entry.name}")


# --- the MLMD client: metadata/client.go ---------------------------------------------------------


@dataclass
class ExecutionConfig:
    """The fields of `metadata.ExecutionConfig` a container or root DAG execution uses."""

    execution_type: str
    task_name: str = ""
    display_name: str = ""  # 2.14 only (`DisplayName`); 2.5 writes the task name
    name: str = ""
    parent_dag_id: int = 0
    input_parameters: dict[str, Any] | None = None  # JSON values
    input_artifact_ids: dict[str, list[int]] = field(default_factory=dict)
    cached_execution_id: str = ""
    fingerprint: str = ""
    not_triggered: bool = False


class KfpMetadataClient:
    """The MLMD requests of KFP's `metadata.Client`, one method per Go method, sent as the
    same request messages (`PutExecutionRequest`, ...) through the store's own RPC layer."""

    def __init__(self, store: Any, version: Version) -> None:
        from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

        self.store = store
        self.version = version
        self.pb = metadata_store_pb2
        self.svc = metadata_store_service_pb2

    def _put_execution(self, execution: Any, pairs: list[tuple[Any, Any]], contexts: list[Any]) -> int:
        request = self.svc.PutExecutionRequest(execution=execution, contexts=contexts)
        for artifact, event in pairs:
            pair = request.artifact_event_pairs.add(event=event)
            if artifact is not None:
                pair.artifact.CopyFrom(artifact)
        response = self.svc.PutExecutionResponse()
        self.store._call("PutExecution", request, response)
        return int(response.execution_id)

    def _event(self, kind: int, name: str, artifact_id: int | None = None) -> Any:
        # eventPath: the path's only step is the artifact's name in this execution.
        event = self.pb.Event(type=kind)
        event.path.steps.add().key = name
        if artifact_id is not None:
            event.artifact_id = artifact_id
        return event

    def _context(self, name: str, type_name: str, properties: dict[str, str] | None) -> Any:
        """`getOrInsertContext`: get by type and name, else create it (schemaless type)."""
        found = self.store.get_context_by_type_and_name(type_name, name)
        if found is not None:
            return found
        type_id = self.store.put_context_type(self.pb.ContextType(name=type_name))
        context = self.pb.Context(name=name, type_id=type_id)
        for key, value in (properties or {}).items():
            context.custom_properties[key].string_value = value
        self.store.put_contexts([context])
        return self.store.get_context_by_type_and_name(type_name, name)

    def get_pipeline(
        self, pipeline_name: str, run_id: str, namespace: str, pipeline_root: str, store_session: str
    ) -> tuple[Any, Any]:
        """`GetPipeline`: the pipeline context (no properties) and the run context named by
        the run id, with namespace, resource_name, the run's pipeline_root (root/pipeline/run)
        and store_session_info, linked child -> parent."""
        pipeline_ctx = self._context(pipeline_name, PIPELINE_CONTEXT, None)
        run_ctx = self._context(
            run_id,
            RUN_CONTEXT,
            {
                "namespace": namespace,
                "resource_name": RUN_RESOURCE,
                "pipeline_root": generate_output_uri(pipeline_root, pipeline_name, run_id),
                "store_session_info": store_session,
            },
        )
        parents = self.store.get_parent_contexts_by_context(run_ctx.id)
        if not parents:
            self.store.put_parent_contexts(
                [self.pb.ParentContext(child_id=run_ctx.id, parent_id=pipeline_ctx.id)]
            )
        return pipeline_ctx, run_ctx

    def create_execution(self, contexts: list[Any], config: ExecutionConfig) -> Any:
        """`CreateExecution`: the execution with its custom properties and an INPUT event per
        input artifact, associated with both contexts (its inputs attributed to them)."""
        type_id = self.store.put_execution_type(self.pb.ExecutionType(name=config.execution_type))
        execution = self.pb.Execution(type_id=type_id)
        props = execution.custom_properties
        # 2.5.0: display_name = task name ("for now it defaults to task name");
        # 2.14.0: display_name = config.DisplayName (taskInfo.name), task_name = the task key.
        props["display_name"].string_value = (
            config.task_name if self.version == "2.5" else config.display_name
        )
        props["task_name"].string_value = config.task_name
        if config.name:
            execution.name = config.name
        # "in MLMD, CANCELED state means exactly as what we call not triggered".
        execution.last_known_state = (
            self.pb.Execution.CANCELED if config.not_triggered else self.pb.Execution.RUNNING
        )
        if config.parent_dag_id:
            props["parent_dag_id"].int_value = config.parent_dag_id
        if config.execution_type == CONTAINER_EXECUTION:
            for key in ("pod_name", "pod_uid", "namespace", "image"):
                props[key].string_value = ""  # the driver never fills these; the launcher does
            if config.cached_execution_id:
                props["cached_execution_id"].string_value = config.cached_execution_id
            if config.fingerprint:
                props["cache_fingerprint"].string_value = config.fingerprint
        if config.input_parameters is not None:
            props["inputs"].struct_value.CopyFrom(
                struct_of({k: struct_value(v) for k, v in config.input_parameters.items()})
            )
        pairs = [
            (None, self._event(self.pb.Event.INPUT, name, artifact_id))
            for name, ids in config.input_artifact_ids.items()
            for artifact_id in ids
        ]
        execution_id = self._put_execution(execution, pairs, contexts)
        [created] = self.store.get_executions_by_id([execution_id])
        return created

    def pre_publish(self, execution: Any, pod_name: str, pod_uid: str, namespace: str) -> Any:
        """`PrePublishExecution` (the launcher, before the user command): pod info, RUNNING,
        put without contexts."""
        execution.custom_properties["pod_name"].string_value = pod_name
        execution.custom_properties["pod_uid"].string_value = pod_uid
        execution.custom_properties["namespace"].string_value = namespace
        execution.last_known_state = self.pb.Execution.RUNNING
        self._put_execution(execution, [], [])
        return execution

    def record_artifact(
        self, output_name: str, schema_title: str, uri: str, metadata: Any, store_session: str
    ) -> Any:
        """`RecordArtifact`: type = schema title; every metadata field converted by
        StructValueToMLMDValue; display_name defaults to the output name; store_session_info
        added; state LIVE; put on its own (PutArtifacts), before the execution is published."""
        type_id = self.store.put_artifact_type(self.pb.ArtifactType(name=schema_title))
        artifact = self.pb.Artifact(type_id=type_id, uri=uri, state=self.pb.Artifact.LIVE)
        if metadata is not None:
            for key, value in metadata.fields.items():
                artifact.custom_properties[key].CopyFrom(mlmd_value(value))
        if "display_name" not in artifact.custom_properties:
            artifact.custom_properties["display_name"].string_value = output_name
        if "store_session_info" not in artifact.custom_properties:
            artifact.custom_properties["store_session_info"].string_value = store_session
        [artifact_id] = self.store.put_artifacts([artifact])
        [stored] = self.store.get_artifacts_by_id([artifact_id])
        return stored

    def publish_execution(
        self,
        execution: Any,
        contexts: list[Any],
        output_parameters: dict[str, Any] | None,
        outputs: list[tuple[str, Any]],
        state: int,
    ) -> None:
        """`PublishExecution`: the final state, `outputs` (the output parameters) when the
        executor output had a parameter map, and an OUTPUT event per artifact by id."""
        execution.last_known_state = state
        if output_parameters is not None:
            execution.custom_properties["outputs"].struct_value.CopyFrom(
                struct_of({k: struct_value(v) for k, v in output_parameters.items()})
            )
        pairs = [(None, self._event(self.pb.Event.OUTPUT, name, artifact.id)) for name, artifact in outputs]
        self._put_execution(execution, pairs, contexts)

    def executions_in_dag(self, dag: Any, run_ctx: Any) -> dict[str, Any]:
        """`GetExecutionsInDAG` with the parent filter: the DAG's tasks by task name."""
        found = self.store.get_executions_by_context(run_ctx.id)
        return {
            e.custom_properties["task_name"].string_value: e
            for e in found
            if "parent_dag_id" in e.custom_properties
            and e.custom_properties["parent_dag_id"].int_value == dag.id
        }

    def output_artifacts(self, execution_id: int) -> dict[str, Any]:
        """`GetOutputArtifactsByExecutionId`: output artifacts by event path name."""
        events = self.store.get_events_by_execution_ids([execution_id])
        names = {e.artifact_id: e.path.steps[0].key for e in events if e.type == self.pb.Event.OUTPUT}
        return {names[a.id]: a for a in self.store.get_artifacts_by_id(list(names))}

    def update_dag_state(self, dag: Any, run_ctx: Any) -> None:
        """`UpdateDAGExecutionsState` (called by the launcher after every publish, at 2.5.0 and
        2.14.0): completed (COMPLETE, CACHED, CANCELED) == `total_dag_tasks` -> COMPLETE, else
        any FAILED -> FAILED. The root DAG has no total_dag_tasks (only sub-DAG drivers set it,
        driver.go at 2.5.0, dag.go at 2.14.0), so it reads 0: the root is never marked complete
        on success, and is marked COMPLETE when the first task to finish failed."""
        [current] = self.store.get_executions_by_id([dag.id])
        tasks = self.executions_in_dag(current, run_ctx).values()
        done = {self.pb.Execution.COMPLETE, self.pb.Execution.CACHED, self.pb.Execution.CANCELED}
        completed = sum(1 for t in tasks if t.last_known_state in done)
        failed = sum(1 for t in tasks if t.last_known_state == self.pb.Execution.FAILED)
        total = (
            current.custom_properties["total_dag_tasks"].int_value
            if "total_dag_tasks" in current.custom_properties
            else 0
        )
        if completed == total:
            current.last_known_state = self.pb.Execution.COMPLETE
        elif failed > 0:
            current.last_known_state = self.pb.Execution.FAILED
        else:
            return
        # PutDAGExecutionState: the execution as fetched, new state, no contexts.
        self._put_execution(current, [], [])


# --- a run -------------------------------------------------------------------------------------


def fingerprint(task: Task, params: Mapping[str, Any], inputs: Mapping[str, list[int]]) -> str:
    """`getFingerPrint` / `GenerateCacheKey` + `GenerateFingerPrint` (driver/driver.go,
    cacheutils/cache.go at 2.5.0): sha256 of the JSON cache key (input artifact ids,
    parameter values, output specs, command + args and image)."""
    key = {
        "inputArtifactNames": {name: [str(i) for i in ids] for name, ids in sorted(inputs.items())},
        "inputParameterValues": dict(params),
        "outputArtifactsSpec": task.outputs,
        "containerSpec": {
            "cmdArgs": [*task.container["command"], *task.container["args"]],
            "image": task.container["image"],
        },
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class RecordedRun:
    run_id: str
    pipeline: str
    dag_execution_id: int
    executions: dict[str, int]  # task key -> execution id
    output_uris: dict[str, dict[str, str]]  # task key -> output -> uri


def record_run(
    store: Any,
    version: Version,
    pipeline: CompiledPipeline,
    pods: Mapping[str, PodRun],
    bucket: BucketWriter,
    pipeline_root: str,
    *,
    run_id: str | None = None,
    namespace: str = "kubeflow",
    endpoint: str = "",
    fail: str | None = None,
    stop_at: str | None = None,
    cache: dict[str, int] | None = None,
    publish_logs: bool = True,
) -> RecordedRun:
    """Record one run of `pipeline` as KFP `version` does, uploading the pods' outputs.

    `fail`: this task's user command fails (published FAILED, no outputs; Argo then
    starts no task downstream of it). `stop_at`: the run is still going, this task's pod
    runs (launcher pre-published, nothing after). `cache`: KFP's cache database,
    fingerprint -> execution id, shared by runs; None runs with caching off.
    """
    run_id = run_id or str(uuid.uuid4())
    client = KfpMetadataClient(store, version)
    store_session = session_info(pipeline_root, endpoint)
    # RootDAG (driver/driver.go at 2.5.0, driver/root_dag.go at 2.14.0): contexts, then the
    # root DAG execution named "run/<run id>" with the run's parameters as `inputs`, no
    # task name and no parent.
    pipeline_ctx, run_ctx = client.get_pipeline(
        pipeline.name, run_id, namespace, pipeline_root, store_session
    )
    contexts = [pipeline_ctx, run_ctx]
    run_root = generate_output_uri(pipeline_root, pipeline.name, run_id)
    dag = client.create_execution(
        contexts,
        ExecutionConfig(DAG_EXECUTION, name=f"run/{run_id}", input_parameters=pipeline.root_parameters()),
    )
    root_values = pipeline.root_parameters()
    recorded = RecordedRun(run_id, pipeline.name, dag.id, {}, {})
    finished: set[str] = set()
    for task in pipeline.tasks:
        if any(u not in finished for u in task.upstream):
            continue  # Argo starts no driver downstream of a failed or unfinished task
        execution, outputs = _container_driver(
            client, task, dag, contexts, run_ctx, run_root, root_values, publish_logs, cache
        )
        recorded.executions[task.key] = execution.id
        recorded.output_uris[task.key] = outputs
        if execution.last_known_state == client.pb.Execution.CACHED:
            finished.add(task.key)
            continue
        state = _launcher(
            client,
            task,
            execution,
            contexts,
            run_ctx,
            dag,
            pods[task.key],
            bucket,
            outputs,
            namespace,
            store_session,
            fail=task.key == fail,
            stop=task.key == stop_at,
            cache=cache,
        )
        if state == client.pb.Execution.COMPLETE:
            finished.add(task.key)
    return recorded


def _container_driver(
    client: KfpMetadataClient,
    task: Task,
    dag: Any,
    contexts: list[Any],
    run_ctx: Any,
    run_root: str,
    root_values: Mapping[str, Any],
    publish_logs: bool,
    cache: dict[str, int] | None,
) -> tuple[Any, dict[str, str]]:
    """`driver.Container` (driver/driver.go at 2.5.0, driver/container.go at 2.14.0)."""
    # resolveInputs: parameters from the parent DAG's `inputs`, artifacts from the producer
    # task's OUTPUT events, found by task name among the DAG's executions.
    params = {name: root_values[source] for name, source in task.parameter_inputs.items()}
    in_dag = client.executions_in_dag(dag, run_ctx)
    input_ids = {
        name: [client.output_artifacts(in_dag[producer].id)[key].id]
        for name, (producer, key) in task.artifact_inputs.items()
    }
    # provisionOutputs: <run root>/<task name>/<uuid>/<output>, plus executor-logs.
    salt = str(uuid.uuid4())
    names = [*task.outputs, *([EXECUTOR_LOGS] if publish_logs else [])]
    outputs = {name: generate_output_uri(run_root, task.key, salt, name) for name in names}
    caching = cache is not None and task.enable_cache
    print_ = fingerprint(task, params, input_ids) if caching else ""
    cached_id = str(cache[print_]) if caching and cache is not None and print_ in cache else ""
    config = ExecutionConfig(
        CONTAINER_EXECUTION,
        # 2.5.0: ecfg.TaskName = taskInfo.name; 2.14.0: TaskName = --task_name (the task key),
        # DisplayName = taskInfo.name. Our compiler makes them equal.
        task_name=task.info_name if client.version == "2.5" else task.key,
        display_name=task.info_name,
        parent_dag_id=dag.id,
        input_parameters=params,
        input_artifact_ids=input_ids,
        cached_execution_id=cached_id,
        fingerprint=print_,
    )
    execution = client.create_execution(contexts, config)
    if cached_id:
        # reuseCachedOutputs: the cached execution's outputs (parameters and artifacts by
        # name) published as CACHED by the driver; no pod, no launcher, no DAG update.
        cached = client.output_artifacts(int(cached_id))
        [original] = client.store.get_executions_by_id([int(cached_id)])
        outputs_param = _struct_dict(original, "outputs")
        artifacts = [(name, cached[name]) for name in names]
        client.publish_execution(execution, contexts, outputs_param, artifacts, client.pb.Execution.CACHED)
        outputs = {name: cached[name].uri for name in names}
        [execution] = client.store.get_executions_by_id([execution.id])
    return execution, outputs


def _struct_dict(execution: Any, key: str) -> dict[str, Any]:
    from google.protobuf import json_format

    if key not in execution.custom_properties:
        return {}
    return dict(json_format.MessageToDict(execution.custom_properties[key].struct_value))


def _launcher(
    client: KfpMetadataClient,
    task: Task,
    execution: Any,
    contexts: list[Any],
    run_ctx: Any,
    dag: Any,
    pod: PodRun,
    bucket: BucketWriter,
    outputs: dict[str, str],
    namespace: str,
    store_session: str,
    *,
    fail: bool,
    stop: bool,
    cache: dict[str, int] | None,
) -> int:
    """`LauncherV2.Execute` (component/launcher_v2.go at 2.5.0 and 2.14.0)."""
    pb = client.pb
    pod_name = f"{run_ctx.name[:18]}-system-container-impl-{execution.id}"
    client.pre_publish(execution, pod_name, str(uuid.uuid4()), namespace)
    if stop:
        return int(pb.Execution.RUNNING)
    time.sleep(0.02)  # the user command runs
    if fail:
        # The deferred publish with status FAILED and a nil executor output: no outputs
        # property and no artifacts; then the DAG state update.
        client.publish_execution(execution, contexts, None, [], pb.Execution.FAILED)
        client.update_dag_state(dag, run_ctx)
        return int(pb.Execution.FAILED)
    artifacts = []
    # uploadOutputArtifacts: every provisioned output (a Go map: any order), uploaded,
    # then recorded with the executor output's metadata merged in (mergeRuntimeArtifacts).
    for name, uri in outputs.items():
        if name == EXECUTOR_LOGS:
            bucket.upload(pod.log_file, uri)
            artifacts.append(
                (name, client.record_artifact(name, "system.Artifact", uri, None, store_session))
            )
            continue
        produced = pod.outputs[name]
        bucket.upload(produced.folder, uri)
        title = task.outputs[name]
        artifacts.append((name, client.record_artifact(name, title, uri, produced.metadata, store_session)))
    # collectOutputParameters leaves an empty, non-nil parameter map: `outputs` = {}.
    # CreateExecutionCache: a task with a fingerprint that ran is the next runs' cache hit.
    if "cache_fingerprint" in execution.custom_properties and cache is not None:
        cache[execution.custom_properties["cache_fingerprint"].string_value] = execution.id
    client.publish_execution(execution, contexts, {}, artifacts, pb.Execution.COMPLETE)
    client.update_dag_state(dag, run_ctx)
    return int(pb.Execution.COMPLETE)


def open_store(sqlite_file: Path | None = None, grpc_port: int | None = None) -> Any:
    """An MLMD store on a sqlite file, or a client of the gRPC test server."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    if grpc_port is not None:
        client = metadata_store_pb2.MetadataStoreClientConfig(host="127.0.0.1", port=grpc_port)
        return metadata_store.MetadataStore(client)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(sqlite_file)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)
