"""Pure helpers that read runs recorded in MLMD by KFP's own driver and launcher.

A KFP cluster records a run itself (github.com/kubeflow/pipelines, backend/src/v2/
metadata/client.go and converter.go, backend/src/v2/driver/, backend/src/v2/component/
launcher_v2.go at 2.5.0 and 2.14.0). Its records differ from the ones our local
orchestrator writes in ways the post-run views must undo; each rule lives here, next to
the KFP source it answers to. Nothing here touches a store or imports a heavy library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zenml_kf.pipelines.graph import OutputSpec, PipelineGraph

# Only our local runs store the pipeline graph on the run context; KFP's driver writes
# `namespace`, `resource_name`, `pipeline_root` and `store_session_info` there and nothing
# else (`GetPipeline`, backend/src/v2/metadata/client.go at 2.5.0 and 2.14.0).
LOCAL_RUN_MARKER = "pipeline_config"

# With PUBLISH_LOGS on (the default manifests set it, and the driver's flag defaults to
# "true"), the driver adds an output artifact of this name to every container task and
# the launcher uploads the pod's log there (`provisionOutputs`, backend/src/v2/driver/
# driver.go at 2.5.0 and 2.14.0). It is KFP's, not a step output; step outputs are
# Python identifiers, so no step output can have this name.
EXECUTOR_LOGS = "executor-logs"

# Artifact custom properties that only locate the bucket for KFP itself (`RecordArtifact`,
# backend/src/v2/metadata/client.go at 2.5.0), and the type our entrypoint repeats in the
# executor output (the MLMD artifact type already says it).
KFP_ARTIFACT_PROPERTIES = ("store_session_info", "artifact_type")

METRICS_ARTIFACT = "system.Metrics"
SCALAR_MATERIALIZER = "zenml_kf.materializers.builtin:BuiltInMaterializer"
CONTAINER_MATERIALIZER = "zenml_kf.materializers.builtin:BuiltInContainerMaterializer"

_NOT_K8S = re.compile(r"[^-0-9a-z]+")
_DASHES = re.compile(r"-+")


def k8s_name(name: str) -> str:
    """The KFP task key kfp gives a step (and the pipeline context name it gives a pipeline).

    The same rule as kfp's `maybe_rename_for_k8s` (sdk/python/kfp/dsl/utils.py, which the
    compiler calls): lower case, every run of characters outside [-0-9a-z] becomes '-',
    runs of '-' collapse to one, and '-' is stripped from both ends. Reimplemented so the
    post-run API does not import kfp.
    """
    return _DASHES.sub("-", _NOT_K8S.sub("-", name.lower())).strip("-")


def same_name(a: str, b: str) -> bool:
    """Whether two names are one step (or pipeline) to KFP: `load_data` and `load-data`."""
    return a == b or (bool(k8s_name(a)) and k8s_name(a) == k8s_name(b))


def is_kfp_run(run_properties: Mapping[str, Any]) -> bool:
    """A run context KFP's driver wrote, not our local orchestrator."""
    return LOCAL_RUN_MARKER not in run_properties


def unwrap_metadata(value: Any) -> Any:
    """An artifact metadata value as the step wrote it.

    The launcher stores a list as `{"list": [...]}` and a dict as `{"struct": {...}}`
    (`StructValueToMLMDValue`, backend/src/v2/metadata/converter.go at 2.5.0). Numbers
    stay doubles and booleans stay 0/1: MLMD no longer says which they were.
    """
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if (key == "list" and isinstance(inner, list)) or (key == "struct" and isinstance(inner, dict)):
            return inner
    return value


def coerce_parameter(value: Any, json_type: str | None) -> Any:
    """A parameter value recorded by KFP, in the Python type its step declared.

    The driver records a task's parameters in the execution's `inputs` struct, where
    every number is a double (`CreateExecution`, backend/src/v2/metadata/client.go at
    2.5.0). Without a declared type a whole-number double stays a float: `42.0` may be
    an int or a float, and guessing int would turn a float parameter like `C: 10.0`
    into the wrong type.
    """
    if json_type == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if json_type == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if json_type == "boolean" and isinstance(value, int | float) and not isinstance(value, bool):
        return bool(value)
    return value


def coerce_parameters(
    recorded: Mapping[str, Any],
    types: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Parameters of a KFP-recorded step, typed by the compiled step spec when known.

    `defaults` are the compiled values: the driver leaves out an optional parameter that
    the run did not set and the launcher fills in the component default, which is the
    compiled value (`resolveInputs` in backend/src/v2/driver/driver.go, `addDefaultParams`
    in backend/src/v2/component/launcher_v2.go, at 2.5.0).
    """
    types = types or {}
    merged = {**(defaults or {}), **recorded}
    return {name: coerce_parameter(value, types.get(name)) for name, value in merged.items()}


def metrics_reader(
    output_name: str, metadata: Mapping[str, Any], declared: OutputSpec | None
) -> tuple[str, str]:
    """(materializer, data type) of a `system.Metrics` artifact recorded without them.

    Our entrypoint gives a metrics artifact only `display_name` and its numbers (the KFP
    UI lists every metadata entry of one as a metric). The compiled output spec names
    both when it is known. Otherwise the numbers tell: a scalar (int, float) is recorded
    under the output's own name and nothing else, and BuiltInMaterializer reads its
    data.json; a dict is read by BuiltInContainerMaterializer, which also reads the
    pickle it falls back to (for NaN values). The data type stays unknown (''), so the
    value comes back as JSON held it: an int as an int, a float as a float.
    """
    if declared is not None and declared.materializer:
        return declared.materializer, declared.data_type
    numbers = set(metadata) - {"display_name"}
    if numbers == {output_name} and not isinstance(metadata[output_name], dict | list):
        return SCALAR_MATERIALIZER, declared.data_type if declared else ""
    return CONTAINER_MATERIALIZER, declared.data_type if declared else ""


def graph_from_ir(ir: Mapping[str, Any]) -> PipelineGraph:
    """The pipeline graph our compiler embedded in a compiled pipeline (its first YAML document).

    Every container runs `python -m zenml_kf.entrypoint --step NAME --spec JSON ...`,
    and the spec holds the step's graph model, so the graph of a cluster run can be
    rebuilt from the pipeline spec KFP stores with the run. The Python pipeline name is
    `pipelineInfo.displayName` (the IR's `name` is the Kubernetes form).
    """
    import json

    from zenml_kf.pipelines.graph import PipelineGraph, StepSpec

    specs: dict[str, StepSpec] = {}
    executors = ir.get("deploymentSpec", {}).get("executors", {})
    for executor in executors.values():
        args = list(executor.get("container", {}).get("args", []))
        if "--spec" not in args or args.index("--spec") + 1 >= len(args):
            continue
        payload = json.loads(args[args.index("--spec") + 1])
        spec = StepSpec.model_validate(payload["spec"])
        specs[spec.name] = spec
    info = ir.get("pipelineInfo", {})
    return PipelineGraph(
        name=str(info.get("displayName") or info.get("name", "")),
        description=info.get("description"),
        steps=_topological(specs),
    )


def _topological(specs: Mapping[str, Any]) -> list[Any]:
    """Steps with every producer before its consumers, otherwise in name order."""
    ordered: list[Any] = []
    placed: set[str] = set()
    pending = sorted(specs)
    while pending:
        ready = [n for n in pending if all(u in placed or u not in specs for u in specs[n].upstream)]
        if not ready:  # a cycle cannot be compiled; keep what is left as it is
            ready = pending
        for name in ready:
            ordered.append(specs[name])
            placed.add(name)
        pending = [n for n in pending if n not in placed]
    return ordered
