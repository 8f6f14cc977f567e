"""Python values to and from MLMD `Value` protos, as KFP's launcher writes them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, MutableMapping
from typing import Any

_INT64 = 2**63


def non_finite_as_text(value: Any) -> Any:
    """NaN and infinities (at any depth) as "NaN", "Infinity", "-Infinity".

    Strict JSON has no literal for them: KFP's launcher parses executor outputs with
    protojson, and MLMD's sqlite store cannot write them into SQL. A float materializer
    reads the strings back as floats.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: non_finite_as_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [non_finite_as_text(item) for item in value]
    return value


def set_value(target: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Store `value` in a custom-properties map under the closest MLMD value kind."""
    value = non_finite_as_text(value)
    slot = target[key]
    if isinstance(value, bool):
        slot.bool_value = value
    elif isinstance(value, int) and -_INT64 <= value < _INT64:
        slot.int_value = value
    elif isinstance(value, float):
        slot.double_value = value
    elif isinstance(value, dict):
        slot.struct_value.SetInParent()  # an empty dict must still set the oneof
        slot.struct_value.update(value)
    elif isinstance(value, str):
        slot.string_value = value
    else:
        slot.string_value = json.dumps(value, default=str)


def get_value(source: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if key not in source:
        return default
    slot = source[key]
    kind = slot.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(slot.struct_value)
    if kind is None:
        return default
    return getattr(slot, kind)


def properties(source: Mapping[str, Any]) -> dict[str, Any]:
    return {key: get_value(source, key) for key in source}
