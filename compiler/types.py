"""KFP types for step parameters and artifacts, chosen from the graph model.

Parameter types come from the step config's annotation when it names a plain JSON
type, else from the value, so a `float` field whose default is `3` still accepts `2.5`
when a user edits it in the KFP UI.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from zenml_kf.log import get_logger

ARTIFACT_TYPES = (
    "system.Artifact",
    "system.Dataset",
    "system.Model",
    "system.Metrics",
    "system.ClassificationMetrics",
    "system.SlicedClassificationMetrics",
    "system.HTML",
    "system.Markdown",
)
_SCHEMA_VERSION = "0.0.1"
_BY_PYTHON_TYPE: dict[type, str] = {
    bool: "Boolean",
    int: "Integer",
    float: "Float",
    str: "String",
    dict: "Dict",
    list: "List",
    tuple: "List",
}


def artifact_type(schema_title: str, where: str) -> str:
    """`system.Dataset@0.0.1` for a known title; unknown titles fall back to Artifact."""
    if schema_title not in ARTIFACT_TYPES:
        get_logger().warning(
            "%s has artifact type '%s', which KFP does not know; it is compiled as system.Artifact",
            where,
            schema_title,
        )
        schema_title = "system.Artifact"
    return f"{schema_title}@{_SCHEMA_VERSION}"


def parameter_type(value: Any, annotation: Any = None) -> str:
    """The KFP parameter type name (`Integer`, `Float`, ...) for one step parameter."""
    from_annotation = _from_annotation(annotation)
    if from_annotation is not None:
        return from_annotation
    for python_type, kfp_type in _BY_PYTHON_TYPE.items():
        if isinstance(value, python_type):
            return kfp_type
    return "String"


def _from_annotation(annotation: Any) -> str | None:
    if annotation is None:
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _from_annotation(members[0]) if len(members) == 1 else None
    if origin is typing.Annotated:
        return _from_annotation(typing.get_args(annotation)[0])
    base = origin if isinstance(origin, type) else annotation
    if not isinstance(base, type):
        return None
    for python_type, kfp_type in _BY_PYTHON_TYPE.items():
        if base is python_type:
            return kfp_type
    return None
