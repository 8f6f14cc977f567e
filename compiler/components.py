"""One KFP container component per step, built with the kfp SDK's own structures.

The component is named after the step (kfp derives its key, `comp-<task key>`, from that
name), and the step's docstring describes its parameters and outputs. Its container runs
`python -m zenml_kf.entrypoint` with the step's name, the step's spec (what the entrypoint needs to import and run it,
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

ENTRYPOINT_COMMAND = ["python", "-m", "zenml_kf.entrypoint"]


def step_component(
    graph: PipelineGraph, spec: StepSpec, image: str
) -> container_component_class.ContainerComponent:
    inputs: dict[str, structures.InputSpec] = {}
    for name, value in spec.parameters.items():
        inputs[name] = structures.InputSpec(
            type=parameter_type(spec.parameter_types.get(name), value),
            default=value,
            optional=True,
            description=parameter_description(spec, name),
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
            type=artifact_type(out.artifact_type, f"output '{out.name}' of step '{spec.name}'"),
            description=_output_description(spec, out.name),
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
        inputs=inputs or None,
        outputs=outputs or None,
        implementation=structures.Implementation(container=container),
    )
    return container_component_class.ContainerComponent(component_spec, _no_python_function)


def step_payload(spec: StepSpec, producers: dict[str, dict[str, Any]]) -> str:
    """The JSON the entrypoint reads: the spec without settings (they are applied by KFP
    and may name secrets) plus what each input's producer declared at compile time."""
    body = spec.model_dump(mode="json", exclude={"settings", "description"})
    return json.dumps({"spec": body, "inputs": producers}, sort_keys=True, separators=(",", ":"))


def parameter_description(spec: StepSpec, name: str) -> str:
    """What the KFP UI's run form says of a parameter: its step, and what that step does."""
    return f"parameter '{name}' of step '{spec.name}'" + _summary(spec)


def _output_description(spec: StepSpec, name: str) -> str:
    return f"output '{name}' of step '{spec.name}'" + _summary(spec)


def _summary(spec: StepSpec) -> str:
    """The first paragraph of the step's docstring (the IR has no description for a
    component or a task, so it travels with the step's parameters and outputs)."""
    if not spec.description:
        return ""
    return ": " + " ".join(spec.description.split("\n\n")[0].split())


def _no_python_function(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a zenml-kf step component runs only in a container")
