"""Records the wiring a `@pipeline` body makes by calling step instances.

The body runs once, inside a builder held in a context variable; each step call checks
its inputs and hands back placeholders for its outputs, which later calls consume.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import PipelineInterfaceError
from zenml_kf.source import type_name
from zenml_kf.steps.type_check import concrete_type

if TYPE_CHECKING:
    from zenml_kf.steps.step import StepInstance


@dataclass(frozen=True)
class OutputHandle:
    """A placeholder for one output of a step, valid only inside its pipeline body."""

    step: str
    output: str
    annotation: Any = field(compare=False)


class StepOutputs(tuple[OutputHandle, ...]):
    """Several outputs: unpack them in order, or reach each one by name."""

    def __getattr__(self, name: str) -> OutputHandle:
        for handle in self:
            if handle.output == name:
                return handle
        raise AttributeError(name)


@dataclass
class StepCall:
    name: str
    instance: StepInstance
    inputs: dict[str, OutputHandle]


class PipelineBuilder:
    def __init__(self, pipeline_name: str, instances: dict[str, StepInstance]) -> None:
        self.pipeline_name = pipeline_name
        self._names = {id(instance): name for name, instance in instances.items()}
        self.calls: dict[str, StepCall] = {}

    def record(
        self, instance: StepInstance, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> OutputHandle | StepOutputs | None:
        name = self._names.get(id(instance))
        step_name = instance.definition.name
        if name is None:
            raise PipelineInterfaceError(
                f"an instance of step '{step_name}' was called in pipeline '{self.pipeline_name}' "
                "but is not one of its arguments; pass it to the pipeline and call that argument"
            )
        if name in self.calls:
            raise PipelineInterfaceError(
                f"step '{name}' is called twice in pipeline '{self.pipeline_name}'; a step instance "
                f"runs once, so pass a second instance as another argument (e.g. {name}_2={step_name}())"
            )
        inputs = self._bind(name, instance, args, kwargs)
        self.calls[name] = StepCall(name, instance, inputs)
        outputs = instance.definition.signature.outputs
        handles = [OutputHandle(name, out, annotation) for out, annotation in outputs.items()]
        if not handles:
            return None
        if len(handles) == 1:
            return handles[0]
        return StepOutputs(handles)

    def _bind(
        self, name: str, instance: StepInstance, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, OutputHandle]:
        expected = list(instance.definition.signature.inputs)
        listing = ", ".join(expected) or "none"
        if len(args) > len(expected):
            raise PipelineInterfaceError(
                f"step '{name}' takes {len(expected)} input(s) ({listing}) but was called with "
                f"{len(args)}; pass one output per input"
            )
        bound: dict[str, Any] = dict(zip(expected, args, strict=False))
        for key, value in kwargs.items():
            if key not in expected:
                raise PipelineInterfaceError(f"step '{name}' has no input '{key}'; its inputs are: {listing}")
            if key in bound:
                raise PipelineInterfaceError(f"input '{key}' of step '{name}' is given twice; pass it once")
            bound[key] = value
        for key in expected:
            if key not in bound:
                raise PipelineInterfaceError(
                    f"input '{key}' of step '{name}' is missing; pass the output of another step as {key}=..."
                )
            value = bound[key]
            if isinstance(value, StepOutputs):
                raise PipelineInterfaceError(
                    f"input '{key}' of step '{name}' got all outputs of step '{value[0].step}'; "
                    "unpack them and pass one"
                )
            if not isinstance(value, OutputHandle) or value.step not in self.calls:
                raise PipelineInterfaceError(
                    f"input '{key}' of step '{name}' got {value!r} ({type(value).__name__}); "
                    "inputs must be outputs of other steps in this pipeline (put constant "
                    "values in the step's config)"
                )
            _check_compatible(
                value, instance.definition.signature.inputs[key], f"input '{key}' of step '{name}'"
            )
        return bound


def _check_compatible(handle: OutputHandle, expected: Any, where: str) -> None:
    produced, wanted = concrete_type(handle.annotation), concrete_type(expected)
    if produced is None or wanted is None or wanted is type(None):
        return
    if issubclass(produced, wanted) or (wanted is float and produced is int):
        return
    raise PipelineInterfaceError(
        f"{where} expects {type_name(expected)} but output '{handle.output}' of step "
        f"'{handle.step}' is {type_name(handle.annotation)}; change one of the annotations"
    )


_current: contextvars.ContextVar[PipelineBuilder | None] = contextvars.ContextVar(
    "zenml_kf_pipeline_builder", default=None
)


@contextmanager
def building(builder: PipelineBuilder) -> Iterator[PipelineBuilder]:
    token = _current.set(builder)
    try:
        yield builder
    finally:
        _current.reset(token)


def record_step_call(
    instance: StepInstance, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> OutputHandle | StepOutputs | None:
    builder = _current.get()
    if builder is None:
        raise PipelineInterfaceError(
            f"step instance '{instance.definition.name}' was called outside a @pipeline function; "
            "wire steps inside a pipeline body, or call the plain function via "
            f"{instance.definition.name}.fn(...)"
        )
    return builder.record(instance, args, kwargs)
