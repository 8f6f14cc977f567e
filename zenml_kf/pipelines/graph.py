"""The pipeline graph: a plain, serializable description every backend reads.

The local orchestrator, the KFP compiler and MLMD records all consume this model and
nothing else, so a pipeline means the same thing wherever it runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from zenml_kf.pipelines.settings import StepSettings
from zenml_kf.steps.config import ParameterType


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutputSpec(_Frozen):
    name: str
    data_type: str
    # None: chosen from the returned value's type when the annotation cannot decide
    # (Any, a Union), and recorded on the artifact then.
    materializer: str | None
    artifact_type: str = "system.Artifact"
    # No materializer is registered for the annotated type: unless the value's own type
    # has one, it is pickled (compilers warn about that).
    unregistered_type: bool = False


class InputSpec(_Frozen):
    name: str
    data_type: str
    step: str
    output: str


class StepSpec(_Frozen):
    name: str
    step_name: str
    source: str
    code_hash: str
    description: str | None = None
    config_source: str | None = None
    # Validated by the step's config class where they entered (the step instance, a
    # config file, the executor input), as JSON values.
    parameters: dict[str, Any] = {}
    parameter_types: dict[str, ParameterType] = {}
    inputs: list[InputSpec] = []
    outputs: list[OutputSpec] = []
    enable_cache: bool = True
    # How the step runs on a cluster (resources, Kubernetes options): the pipeline's
    # settings merged with the step's and a config file's, validated.
    settings: StepSettings = StepSettings()

    @property
    def upstream(self) -> list[str]:
        seen: dict[str, None] = {}
        for edge in self.inputs:
            seen.setdefault(edge.step, None)
        return list(seen)

    def output(self, name: str) -> OutputSpec:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(name)


class PipelineGraph(_Frozen):
    name: str
    description: str | None = None
    source: str | None = None
    enable_cache: bool = True
    settings: dict[str, Any] = {}
    steps: list[StepSpec]
    # Distributions the outputs' materializers need in a step image (pip names, not
    # pinned): found where the graph is built, so building an image imports no user code.
    requirements: list[str] = []

    @model_validator(mode="after")
    def _check_edges(self) -> PipelineGraph:
        """Steps are in topological order and every edge names an earlier step's output."""
        seen: dict[str, StepSpec] = {}
        for spec in self.steps:
            if spec.name in seen:
                raise ValueError(f"step name '{spec.name}' is used twice")
            for edge in spec.inputs:
                producer = seen.get(edge.step)
                if producer is None:
                    raise ValueError(
                        f"input '{edge.name}' of step '{spec.name}' comes from '{edge.step}', "
                        "which is not an earlier step (a cycle or a missing step)"
                    )
                if all(out.name != edge.output for out in producer.outputs):
                    raise ValueError(f"step '{edge.step}' has no output '{edge.output}'")
            seen[spec.name] = spec
        return self

    def step(self, name: str) -> StepSpec:
        for spec in self.steps:
            if spec.name == name:
                return spec
        raise KeyError(name)
