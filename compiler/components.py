"""One KFP container component per step, built with the kfp SDK's own structures.

The component is named after the step. Its container runs `python -m zenml_kf.entrypoint`
with the step's name, the step's spec (what the entrypoint needs to import and run it,
without settings) and the executor input placeholder `{{$}}`, from which the entrypoint
reads parameter values, artifact URIs and where to write its executor output.
"""

from __future__ import annotations

import json
from typing import Any

from kfp import dsl
from kfp.dsl import container_component_class, structures

from compiler.types import artifact_type, parameter_type
from zenml_kf.pipelines.graph import PipelineGraph, StepSpec
from zenml_kf.source import load_source

ENTRYPOINT_COMMAND = ["python", "-m", "zenml_kf.entrypoint"]


def step_component(
    graph: PipelineGraph, spec: StepSpec, image: str
) -> container_component_class.ContainerComponent:
    inputs: dict[str, structures.InputSpec] = {}
    annotations = _config_annotations(spec)
    for name, value in spec.parameters.items():
        inputs[name] = structures.InputSpec(
            type=parameter_type(value, annotations.get(name)),
            default=value,
            optional=True,
        )
    producers: dict[str, dict[str, Any]] = {}
    for edge in spec.inputs:
        produced = graph.step(edge.step).output(edge.output)
        inputs[edge.name] = structures.InputSpec(
            type=artifact_type(produced.artifact_type, f"output '{edge.output}' of step '{edge.step}'")
        )
        producers[edge.name] = {"materializer": produced.materializer, "data_type": produced.data_type}
    outputs = {
        out.name: structures.OutputSpec(
            type=artifact_type(out.artifact_type, f"output '{out.name}' of step '{spec.name}'")
        )
        for out in spec.outputs
    }
    container = structures.ContainerSpecImplementation(
        image=image,
        command=list(ENTRYPOINT_COMMAND),
        args=[
            "--step",
            spec.name,
            "--spec",
            step_payload(spec, producers),
            "--executor-input",
            dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
        ],
    )
    component_spec = structures.ComponentSpec(
        name=spec.name,
        description=f"zenml-kf step {spec.step_name} ({spec.source})",
        inputs=inputs or None,
        outputs=outputs or None,
        implementation=structures.Implementation(container=container),
    )
    return container_component_class.ContainerComponent(component_spec, _no_python_function)


def step_payload(spec: StepSpec, producers: dict[str, dict[str, Any]]) -> str:
    """The JSON the entrypoint reads: the spec without settings (they are applied by KFP
    and may name secrets) plus what each input's producer declared at compile time."""
    body = spec.model_dump(mode="json", exclude={"settings"})
    return json.dumps({"spec": body, "inputs": producers}, sort_keys=True, separators=(",", ":"))


def _config_annotations(spec: StepSpec) -> dict[str, Any]:
    if not spec.config_source:
        return {}
    try:
        cls = load_source(spec.config_source)
        return {name: field.annotation for name, field in cls.model_fields.items()}
    except Exception:  # the value decides the type then; the import is checked elsewhere
        return {}


def _no_python_function(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a zenml-kf step component runs only in a container")
