"""What the KFP backends we support (2.2 through 2.14) require of compiled pipelines and of
the executor output a step writes, read from their Go source.

kfp.local runs container components without any of these checks (it resolves tasks by
key and parses JSON leniently), so parity with it cannot show them. Each rule names the
file and tag it comes from (github.com/kubeflow/pipelines). `check_pipeline` runs on every
pipeline the compiler tests compile (`parse_compiled`), `check_executor_output` on every
executor output file the entrypoint tests read.
"""

from __future__ import annotations

import json
from typing import Any

# Fields of the Kubernetes executor config (and of the messages inside it that we emit)
# known to the KFP 2.2.0 driver: kubernetes_platform/proto/kubernetes_executor_config.proto
# at 8b2a099e8c9f, the version backend 2.2.0's go.mod pins (2.3.0 and 2.4.0 pin d911c8b73b49,
# which adds only `enabledSharedMemory` and `emptyDirMounts`). The driver parses the
# config with jsonpb.UnmarshalString (backend/src/v2/cmd/driver/main.go at 2.2.0), which
# fails on any unknown field, e.g. kfp-kubernetes 1.5.0's `secretNameParameter`
# (kubeflow/pipelines#11935).
KNOWN_K8S_FIELDS: dict[str, set[str]] = {
    "": {
        "secretAsVolume",
        "secretAsEnv",
        "pvcMount",
        "nodeSelector",
        "podMetadata",
        "imagePullSecret",
        "imagePullPolicy",
        "configMapAsVolume",
        "configMapAsEnv",
        "activeDeadlineSeconds",
        "fieldPathAsEnv",
        "tolerations",
        "genericEphemeralVolume",
        "nodeAffinity",
        "podAffinity",
    },
    "secretAsEnv": {"secretName", "keyToEnv"},
    "secretAsEnv.keyToEnv": {"secretKey", "envVar"},
    "secretAsVolume": {"secretName", "mountPath", "optional"},
    "nodeSelector": {"labels"},
    "imagePullSecret": {"secretName"},
    "tolerations": {"key", "operator", "value", "effect", "tolerationSeconds"},
}


def check_pipeline(spec: dict[str, Any], platform: dict[str, Any]) -> None:
    """Raise AssertionError naming the first rule a compiled pipeline breaks."""
    dags = {"root": spec["root"].get("dag", {})}
    for name, component in spec.get("components", {}).items():
        if "dag" in component:
            dags[name] = component["dag"]
    for where, dag in dags.items():
        tasks = dag.get("tasks", {})
        for key, task in tasks.items():
            # 2.2-2.5 record a task under its taskInfo.name (`ecfg.TaskName =
            # opts.Task.GetTaskInfo().GetName()`) and find producers by key (`tasks[taskOutput.
            # GetProducerTask()]`, "cannot find producer task"): backend/src/v2/driver/driver.go
            # at 2.5.0 (lines 329, 1941), kubeflow/pipelines#11173. 2.14 passes --task_name.
            assert task["taskInfo"]["name"] == key, (
                f"{where}: task '{key}' has taskInfo.name '{task['taskInfo']['name']}'"
            )
            for producer in _producers(task):
                assert producer in tasks, f"{where}: task '{key}' reads from unknown task '{producer}'"
            for upstream in task.get("dependentTasks", []):
                assert upstream in tasks, f"{where}: task '{key}' depends on unknown task '{upstream}'"
            retry = task.get("retryPolicy")
            if retry and "backoffFactor" in retry:
                # 2.5 casts it: `IntVal: int32(retryPolicy.GetBackoffFactor())`,
                # backend/src/v2/compiler/argocompiler/container.go at 2.5.0.
                factor = float(retry["backoffFactor"])
                assert factor.is_integer(), f"task '{key}' has a fractional backoff factor {factor}"
    executors = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
    for executor, config in executors.get("executors", {}).items():
        _check_k8s_fields(executor, "", config)


def _producers(task: dict[str, Any]) -> list[str]:
    inputs = task.get("inputs", {})
    found = []
    for artifact in inputs.get("artifacts", {}).values():
        if "taskOutputArtifact" in artifact:
            found.append(artifact["taskOutputArtifact"]["producerTask"])
    for parameter in inputs.get("parameters", {}).values():
        if "taskOutputParameter" in parameter:
            found.append(parameter["taskOutputParameter"]["producerTask"])
    return found


def _check_k8s_fields(executor: str, path: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _check_k8s_fields(executor, path, item)
        return
    if not isinstance(value, dict) or path not in KNOWN_K8S_FIELDS:
        return
    unknown = set(value) - KNOWN_K8S_FIELDS[path]
    assert not unknown, (
        f"{executor}: {path or 'the Kubernetes config'} has {sorted(unknown)}, unknown to KFP 2.2"
    )
    for field, inner in value.items():
        _check_k8s_fields(executor, f"{path}.{field}" if path else field, inner)


def check_executor_output(text: str) -> dict[str, Any]:
    """Raise AssertionError unless the KFP launcher can read and record this output file.

    The launcher parses it with protojson.Unmarshal (`getExecutorOutputFile`,
    backend/src/v2/component/launcher_v2.go at 2.5.0): strict JSON, so no NaN or Infinity
    literals. It records each metadata value with `StructValueToMLMDValue`
    (backend/src/v2/metadata/converter.go at 2.5.0), which has no case for null.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    def no_constant(name: str) -> Any:
        raise AssertionError(f"executor output holds the non-JSON literal {name}")

    document = json.loads(text, parse_constant=no_constant)
    for name, entry in document.get("artifacts", {}).items():
        for artifact in entry["artifacts"]:
            for key, value in artifact.get("metadata", {}).items():
                assert value is not None, f"metadata '{key}' of output '{name}' is null"
    json_format.Parse(text, pipeline_spec_pb2.ExecutorOutput())
    return dict(document)
