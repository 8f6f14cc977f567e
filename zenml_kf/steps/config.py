"""Step parameters as a pydantic model, so values are validated once and serialize to JSON."""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator


class BaseStepConfig(BaseModel):
    """Subclass with typed fields; a step takes one argument annotated with the subclass.

    Unknown keys are rejected so a typo in a config file fails loudly instead of being
    ignored, and instances are frozen because a step must not change its own parameters.
    A boolean is not a number here (pydantic would read `count: true` as 1).

    The validator is built on first use (`defer_build`), for this class and every
    subclass: building one costs milliseconds and pulls in pydantic's schema machinery,
    which `from zenml_kf import BaseStepConfig` and a module defining configs should not
    pay before anything is validated. A field type pydantic cannot handle is therefore
    reported when the config is first created, not when its class is defined.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if field is not None and isinstance(value, bool) and _numeric(field.annotation):
                    raise ValueError(f"{name}: {value} is a boolean, not a number; give a number")
        return data


def _numeric(annotation: Any) -> bool:
    """int, float, or an Optional / Union of them (and nothing that admits a bool)."""
    members = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    kinds = {m for m in members if m is not type(None)}
    return bool(kinds) and kinds <= {int, float}


# A parameter's type as JSON names it: what a backend needs to declare the parameter
# (KFP: Integer, Float, Boolean, String, Dict, List) without importing the config class.
ParameterType = Literal["integer", "number", "boolean", "string", "object", "array"]
_JSON_TYPES: tuple[ParameterType, ...] = typing.get_args(ParameterType)


def parameter_json_types(config_class: type[BaseModel], values: dict[str, Any]) -> dict[str, ParameterType]:
    """Each parameter's JSON type, from the config class's own JSON schema, else its value.

    The schema decides where it can, so a `float` field whose default is `3` is still a
    number that accepts `2.5` when a user edits it in the KFP UI.
    """
    declared = _schema_types(config_class)
    return {name: declared.get(name) or _value_type(value) for name, value in values.items()}


@functools.cache
def _schema_types(config_class: type[BaseModel]) -> dict[str, ParameterType]:
    try:
        properties = config_class.model_json_schema().get("properties", {})
    except Exception:  # a field pydantic cannot describe: each value decides then
        return {}
    found: dict[str, ParameterType] = {}
    for name, schema in properties.items():
        options = schema.get("anyOf", [schema])
        types = {option.get("type") for option in options} - {"null"}
        kind = types.pop() if len(types) == 1 else None
        for known in _JSON_TYPES:
            if kind == known:
                found[name] = known
    return found


def _value_type(value: Any) -> ParameterType:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list | tuple) else "string"
