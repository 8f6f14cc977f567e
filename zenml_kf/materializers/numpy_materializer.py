"""numpy arrays as `.npy`: fast, portable, and never pickled (so loading runs no code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zenml_kf.exceptions import MaterializerError
from zenml_kf.materializers.base import BaseMaterializer, MetadataValue

_FILE = "data.npy"


class NumpyMaterializer(BaseMaterializer):
    ARTIFACT_TYPE = "system.Dataset"

    def save(self, data: Any, path: Path) -> None:
        import numpy as np

        try:
            np.save(path / _FILE, data, allow_pickle=False)
        except ValueError:
            raise MaterializerError(
                f"a numpy array of dtype {data.dtype} holds Python objects and cannot be saved "
                "without pickle; convert it to a numeric or string dtype"
            ) from None

    def load(self, path: Path, data_type: type) -> Any:
        import numpy as np

        return np.load(path / _FILE, allow_pickle=False)

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        return {"shape": str(tuple(data.shape)), "dtype": str(data.dtype)}
