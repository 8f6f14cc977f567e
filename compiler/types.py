"""KFP types for step parameters and artifacts, chosen from the graph model alone.

A parameter's type is the JSON type the graph recorded from its config class (so a
`float` field whose default is `3` still accepts `2.5` when a user edits it in the KFP
UI), else its value's.
"""

from __future__ import annotations

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
_BY_JSON_TYPE = {
    "integer": "Integer",
    "number": "Float",
    "boolean": "Boolean",
    "string": "String",
    "object": "Dict",
    "array": "List",
}
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


def parameter_type(json_type: str | None, value: Any) -> str:
    """The KFP parameter type name (`Integer`, `Float`, ...) of one step parameter, from the
    JSON type the graph model recorded for it, else from its value."""
    if json_type in _BY_JSON_TYPE:
        return _BY_JSON_TYPE[json_type]
    for python_type, kfp_type in _BY_PYTHON_TYPE.items():
        if isinstance(value, python_type):
            return kfp_type
    return "String"
