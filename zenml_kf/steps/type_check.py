"""Does a returned value fit its annotation? Checked at the step boundary, shallowly."""

from __future__ import annotations

import types
import typing
from typing import Any


def value_matches(value: Any, annotation: Any) -> bool:
    """Shallow isinstance check that understands the annotations steps use.

    Containers are checked by their origin only (`list[int]` accepts any list): deep
    checks would cost a pass over large data on every step.
    """
    if annotation is Any or isinstance(annotation, typing.TypeVar | str):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return value_matches(value, typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(value_matches(value, arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin is not None:
        return isinstance(value, origin) if isinstance(origin, type) else True
    if isinstance(annotation, type):
        if annotation is float and isinstance(value, int) and not isinstance(value, bool):
            return True  # PEP 484: an int is acceptable where a float is expected
        return isinstance(value, annotation)
    return True


def concrete_type(annotation: Any) -> type | None:
    """The class a materializer is chosen for, or None when only the value can tell."""
    if annotation is Any:  # a class since Python 3.11, but it constrains nothing
        return None
    if annotation is None or annotation is type(None):
        return type(None)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return concrete_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, typing.Literal):
        return None
    if origin is not None:
        return origin if isinstance(origin, type) else None
    if isinstance(annotation, type) and annotation is not object:
        return annotation
    return None


METRICS_ARTIFACT = "system.Metrics"


def is_metrics(annotation: Any) -> bool:
    """`int`, `float` or a `dict[str, <number>]`: values the KFP UI shows as scalar metrics."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is not dict:
        return False
    args = typing.get_args(annotation)
    if len(args) != 2 or args[0] is not str:
        return False
    value = args[1]
    members = (
        typing.get_args(value) if typing.get_origin(value) in (typing.Union, types.UnionType) else (value,)
    )
    return all(member in (int, float) for member in members)
