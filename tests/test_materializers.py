"""Materializers: exact round trips, no pickle where a format exists, a loud pickle fallback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from zenml_kf.exceptions import MaterializerError
from zenml_kf.materializers.base import BaseMaterializer
from zenml_kf.materializers.registry import MaterializerRegistry, load_materializer


def roundtrip(value: Any, tmp_path: Path, registry: MaterializerRegistry | None = None) -> tuple[Any, str]:
    reg = registry or MaterializerRegistry()
    source = reg.resolve(type(value), "test")
    materializer = load_materializer(source)
    folder = tmp_path / "artifact"
    folder.mkdir()
    materializer.save(value, folder)
    return materializer.load(folder, type(value)), source


@pytest.mark.parametrize(
    "value",
    [
        3,
        -(2**40),
        2.5,
        True,
        False,
        "héllo",
        b"\x00\xff",
        {"a": [1, 2], "b": None},
        [1, "x", 2.0],
        (1, 2, "3"),
        None,
    ],
)
def test_builtin_types_round_trip_exactly(value: Any, tmp_path: Path) -> None:
    loaded, source = roundtrip(value, tmp_path)
    assert loaded == value
    assert type(loaded) is type(value)
    assert "pickle" not in source.lower()


def test_json_backed_values_are_readable_json(tmp_path: Path) -> None:
    roundtrip({"k": 1}, tmp_path)
    assert (tmp_path / "artifact" / "data.json").read_text() == '{"k": 1}'


def test_containers_that_json_would_alter_are_preserved(tmp_path: Path) -> None:
    value = {1: (2, 3), "arr": np.arange(3)}
    loaded, _ = roundtrip(value, tmp_path)
    assert loaded[1] == (2, 3)
    assert np.array_equal(loaded["arr"], np.arange(3))


def test_numpy_uses_npy_without_pickle(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    loaded, source = roundtrip(arr, tmp_path)
    assert source.endswith(":NumpyMaterializer")
    assert loaded.dtype == np.float32 and np.array_equal(loaded, arr)
    assert np.load(tmp_path / "artifact" / "data.npy", allow_pickle=False).shape == (4, 3)
    assert load_materializer(source).extract_metadata(arr) == {"shape": "(4, 3)", "dtype": "float32"}


def test_numpy_object_arrays_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(MaterializerError, match="holds Python objects"):
        roundtrip(np.array([{"a": 1}], dtype=object), tmp_path)


def test_pandas_uses_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    loaded, source = roundtrip(df, tmp_path)
    assert source.endswith(":PandasMaterializer")
    assert (tmp_path / "artifact" / "data.parquet").exists()
    pd.testing.assert_frame_equal(loaded, df)


class Custom:
    def __init__(self, x: int) -> None:
        self.x = x


def test_unknown_types_are_pickled_with_a_warning_naming_the_type(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="zenml_kf"):
        loaded, source = roundtrip(Custom(7), tmp_path)
    assert loaded.x == 7
    assert source.endswith(":PickleMaterializer")
    [record] = [r for r in caplog.records if "No materializer" in r.getMessage()]
    assert "test_materializers.Custom" in record.getMessage()
    assert "register_materializer" in record.getMessage()


class CustomMaterializer(BaseMaterializer):
    def save(self, data: Any, path: Path) -> None:
        (path / "x.txt").write_text(str(data.x))

    def load(self, path: Path, data_type: type) -> Any:
        return Custom(int((path / "x.txt").read_text()))


def test_registered_materializer_wins_for_the_type_and_its_subclasses(tmp_path: Path) -> None:
    class Sub(Custom):
        pass

    registry = MaterializerRegistry()
    registry.register(Custom, CustomMaterializer)
    assert registry.lookup(Sub) == registry.lookup(Custom)
    loaded, source = roundtrip(Custom(5), tmp_path, registry)
    assert source.endswith(":CustomMaterializer") and loaded.x == 5


def test_sklearn_estimators_are_models(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    loaded, source = roundtrip(model, tmp_path)
    assert source.endswith(":SklearnMaterializer")
    assert load_materializer(source).ARTIFACT_TYPE == "system.Model"
    assert loaded.predict(np.array([[1.0]]))[0] == 1
