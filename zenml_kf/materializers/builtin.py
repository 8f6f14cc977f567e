"""Python's own types: JSON where it round-trips exactly, raw bytes, and nothing at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zenml_kf.materializers.base import BaseMaterializer, MetadataValue

_JSON_FILE = "data.json"
_PICKLE_FILE = "data.pkl"
_SMALL = 1024


class BuiltInMaterializer(BaseMaterializer):
    """int, float, bool and str as a JSON document, so the value is readable by any tool."""

    def save(self, data: Any, path: Path) -> None:
        (path / _JSON_FILE).write_text(json.dumps(data))

    def load(self, path: Path, data_type: type) -> Any:
        value = json.loads((path / _JSON_FILE).read_text())
        if data_type in (int, float, bool, str):
            return data_type(value)
        return value

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        if isinstance(data, str) and len(data) > _SMALL:
            return {"length": len(data)}
        return {"value": data}


class BuiltInContainerMaterializer(BaseMaterializer):
    """dict, list and tuple: JSON when the value survives the round trip unchanged.

    Keys that are not strings, tuples nested in lists or non-JSON elements would come
    back different from JSON, so those values are pickled instead of silently altered.
    """

    REQUIREMENTS = ("cloudpickle",)

    def save(self, data: Any, path: Path) -> None:
        try:
            text = json.dumps(data)
            exact = json.loads(text) == _as_json_shape(data)
        except (TypeError, ValueError):
            exact = False
        if exact:
            (path / _JSON_FILE).write_text(text)
            return
        import cloudpickle

        (path / _PICKLE_FILE).write_bytes(cloudpickle.dumps(data))

    def load(self, path: Path, data_type: type) -> Any:
        if (path / _PICKLE_FILE).exists():
            import pickle

            return pickle.loads((path / _PICKLE_FILE).read_bytes())
        value = json.loads((path / _JSON_FILE).read_text())
        return tuple(value) if data_type is tuple else value

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        return {"length": len(data)}


def _as_json_shape(data: Any) -> Any:
    """What an exact JSON round trip gives back: the top-level tuple becomes a list."""
    return list(data) if isinstance(data, tuple) else data


class BytesMaterializer(BaseMaterializer):
    def save(self, data: Any, path: Path) -> None:
        (path / "data.bin").write_bytes(data)

    def load(self, path: Path, data_type: type) -> Any:
        return (path / "data.bin").read_bytes()

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        return {"length": len(data)}


class NoneMaterializer(BaseMaterializer):
    """An output typed None: the empty folder is the artifact."""

    def save(self, data: Any, path: Path) -> None:
        return None

    def load(self, path: Path, data_type: type) -> Any:
        return None
