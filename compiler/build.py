"""Pipeline graph -> kfp GraphComponent -> KFP IR YAML, through kfp's own compiler.

Step parameters become pipeline input parameters named `<step>-<parameter>` (what a
user looks for in the KFP UI's run form). Python cannot name a function argument with
a '-', and kfp's pipeline builder reads inputs from a function signature, so the
pipeline is built with `<step>__<parameter>` arguments and the root inputs are renamed
in the IR proto before kfp writes it.

Every task keeps the name kfp gives it (its key in the DAG): the KFP 2.2 to 2.5 drivers
record `taskInfo.name` as the task's name and then look producers up by key, so a display
name that differs from the key breaks data passing there (kubeflow/pipelines#11173).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import compiler as kfp_compiler
from kfp.dsl import graph_component, structures
from kfp.dsl.utils import maybe_rename_for_k8s
from kfp.pipeline_spec import pipeline_spec_pb2

from compiler.components import parameter_description, step_component
from compiler.types import parameter_type
from zenml_kf.exceptions import CompilerError
from zenml_kf.log import get_logger
from zenml_kf.pipelines.graph import PipelineGraph, StepSpec
from zenml_kf.pipelines.settings import StepSettings

PARAMETER_SEPARATOR = "-"


def pipeline_parameter_name(step: str, parameter: str) -> str:
    return f"{step}{PARAMETER_SEPARATOR}{parameter}"


def task_key(step: str) -> str:
    """The KFP task key (and `taskInfo.name`) of a step: kfp's own Kubernetes-name rule,
    lower case with every run of other characters turned into one '-'."""
    key: str = maybe_rename_for_k8s(step)
    return key


def check_task_keys(graph: PipelineGraph) -> None:
    """Two steps whose names map to one task key would be renamed by kfp (`-2`), so the
    names a user sees in the KFP UI would no longer say which step is which."""
    seen: dict[str, str] = {}
    for spec in graph.steps:
        key = task_key(spec.name)
        if not key:
            raise CompilerError(
                f"step name '{spec.name}' has no letter or digit, so it gives no KFP task name; rename it"
            )
        if key in seen:
            raise CompilerError(
                f"steps '{seen[key]}' and '{spec.name}' both become KFP task '{key}'; rename one "
                "of them (task names are lower case, with '-' for any other character)"
            )
        seen[key] = spec.name


def build_pipeline(graph: PipelineGraph, image: str) -> graph_component.GraphComponent:
    """The kfp pipeline (a GraphComponent) for `graph`, every step running in `image`."""
    from compiler.task_settings import apply_settings

    check_task_keys(graph)
    _warn_about_retries(graph)
    components = {spec.name: step_component(graph, spec, image) for spec in graph.steps}
    arguments = _pipeline_arguments(graph)

    def body(*channels: Any) -> None:
        by_argument = dict(zip(arguments, channels, strict=True))
        tasks: dict[str, Any] = {}
        for spec in graph.steps:
            kwargs: dict[str, Any] = {
                name: by_argument[arguments_key(spec.name, name)] for name in spec.parameters
            }
            for edge in spec.inputs:
                kwargs[edge.name] = tasks[edge.step].outputs[edge.output]
            task = components[spec.name](**kwargs)
            _apply(apply_settings, task, spec.settings, spec)
            tasks[spec.name] = task

    body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in arguments]
    )
    pipeline_spec = structures.ComponentSpec(
        name=graph.name,
        description=graph.description,
        inputs=dict(arguments) or None,
        implementation=structures.Implementation(),
    )
    try:
        component = graph_component.GraphComponent(pipeline_spec, body, display_name=graph.name)
    except ValueError as exc:  # kfp's own checks; ours should have caught these first
        raise CompilerError(f"kfp cannot compile pipeline '{graph.name}': {exc}") from None
    renames = {key: _public_name(key) for key in arguments}
    _rename_root_inputs(component.pipeline_spec, renames)
    component.component_spec.inputs = {renames[key]: value for key, value in arguments.items()} or None
    return component


def write_pipeline(component: graph_component.GraphComponent, output: Path) -> None:
    """Write the YAML; a path KFP cannot write to is a one-line error, checked first."""
    if output.suffix not in (".yaml", ".yml"):
        raise CompilerError(f"output '{output}' must end in .yaml or .yml, as a KFP pipeline file does")
    if output.is_dir():
        raise CompilerError(
            f"output '{output}' is a folder; give a file in it, e.g. {output / 'pipeline.yaml'}"
        )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        kfp_compiler.Compiler().compile(component, str(output))
    except OSError as exc:
        raise CompilerError(f"cannot write '{output}': {exc.strerror}; pick a writable place") from None


def arguments_key(step: str, parameter: str) -> str:
    return f"{step}__{parameter}"


def _public_name(key: str) -> str:
    step, _, parameter = key.partition("__")
    return pipeline_parameter_name(step, parameter)


def _pipeline_arguments(graph: PipelineGraph) -> dict[str, structures.InputSpec]:
    arguments: dict[str, structures.InputSpec] = {}
    for spec in graph.steps:
        for name, value in spec.parameters.items():
            key = arguments_key(spec.name, name)
            if key in arguments or "__" in spec.name:
                raise CompilerError(
                    f"step name '{spec.name}' contains '__', which makes its pipeline parameters "
                    "ambiguous; rename the step"
                )
            arguments[key] = structures.InputSpec(
                type=parameter_type(spec.parameter_types.get(name), value),
                default=value,
                optional=True,
                description=parameter_description(spec, name),
            )
    return arguments


def _warn_about_retries(graph: PipelineGraph) -> None:
    """KFP's Argo compiler reads a task's retry policy from 2.5 on and ignores it before
    (`getTaskRetryStrategy`, backend/src/v2/compiler/argocompiler/container.go, 2.5.0)."""
    with_retries = [spec.name for spec in graph.steps if spec.settings.retries is not None]
    if with_retries:
        get_logger().warning(
            "retries (steps %s) need a KFP backend 2.5 or newer; older backends run each step once",
            ", ".join(with_retries),
        )


def _apply(apply: Callable[..., None], task: Any, settings: StepSettings, spec: StepSpec) -> None:
    try:
        apply(task, settings, spec.enable_cache)
    except ValueError as exc:  # kfp's setters have a few rules beyond ours
        raise CompilerError(f"settings of step '{spec.name}' are invalid: {exc}") from None


def _rename_root_inputs(spec: pipeline_spec_pb2.PipelineSpec, names: dict[str, str]) -> None:
    parameters = spec.root.input_definitions.parameters
    for old, new in names.items():
        parameters[new].CopyFrom(parameters[old])
        del parameters[old]
    for task in spec.root.dag.tasks.values():
        for value in task.inputs.parameters.values():
            if value.component_input_parameter in names:
                value.component_input_parameter = names[value.component_input_parameter]
