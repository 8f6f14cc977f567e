"""Reads a step function's signature into inputs, a config argument and outputs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zenml_kf.exceptions import StepInterfaceError
from zenml_kf.steps.config import BaseStepConfig
from zenml_kf.steps.output import Output

SINGLE_OUTPUT = "output"


@dataclass(frozen=True)
class StepSignature:
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    config_arg: str | None = None
    config_class: type[BaseStepConfig] | None = None


def parse_signature(fn: Callable[..., Any], step_name: str) -> StepSignature:
    try:
        annotations = inspect.get_annotations(fn, eval_str=True)
    except Exception as exc:
        raise StepInterfaceError(
            f"step '{step_name}': cannot resolve its annotations ({exc}); "
            "import every type the signature names"
        ) from None
    inputs: dict[str, Any] = {}
    config_arg: str | None = None
    config_class: type[BaseStepConfig] | None = None
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise StepInterfaceError(
                f"step '{step_name}' takes *{name}; list each input as a named, annotated argument"
            )
        if name not in annotations:
            raise StepInterfaceError(
                f"input '{name}' of step '{step_name}' has no type annotation; "
                f"annotate it, e.g. '{name}: int'"
            )
        annotation = annotations[name]
        if isinstance(annotation, type) and issubclass(annotation, BaseStepConfig):
            if config_class is not None:
                raise StepInterfaceError(
                    f"step '{step_name}' has two config arguments ('{config_arg}', '{name}'); "
                    "merge them into one BaseStepConfig subclass"
                )
            config_arg, config_class = name, annotation
            continue
        if param.default is not param.empty:
            raise StepInterfaceError(
                f"input '{name}' of step '{step_name}' has a default value; inputs come from "
                "other steps, so move tunable values into the step's BaseStepConfig"
            )
        inputs[name] = annotation
    outputs = _outputs(annotations.get("return", inspect.Signature.empty), step_name)
    return StepSignature(inputs, outputs, config_arg, config_class)


def _outputs(annotation: Any, step_name: str) -> dict[str, Any]:
    if annotation is inspect.Signature.empty or annotation is None or annotation is type(None):
        return {}
    if isinstance(annotation, Output):
        for name in annotation.items:
            if not name.isidentifier():
                raise StepInterfaceError(
                    f"output name '{name}' of step '{step_name}' is not an identifier; rename it"
                )
        return dict(annotation.items)
    return {SINGLE_OUTPUT: annotation}
