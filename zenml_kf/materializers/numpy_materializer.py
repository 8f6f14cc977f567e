"""numpy arrays as `.npy`: fast, portable, and never pickled (so loading runs no code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zenml_kf.exceptions import MaterializerError
from zenml_kf.materializers.base import BaseMaterializer, MetadataValue

_FILE = "data.npy"
# Below this size a read costs less than setting up a mapping, and thousands of small
# arrays must not hold thousands of mappings open.
MMAP_MIN_BYTES = 1 << 20


class NumpyMaterializer(BaseMaterializer):
    ARTIFACT_TYPE = "system.Dataset"
    REQUIREMENTS = ("numpy",)

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
        """A large array maps its file copy-on-write instead of reading it into new memory.

        Reading 100 MB costs a copy from the page cache and as much memory again; a mapping
        shares the cached pages and loads them as the step touches them. The caller still
        gets a plain, writable `ndarray`: writes go to private pages, never to the artifact.
        """
        import numpy as np

        file = path / _FILE
        if file.stat().st_size < MMAP_MIN_BYTES:
            return np.load(file, allow_pickle=False)
        return np.asarray(np.load(file, mmap_mode="c", allow_pickle=False))

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        return {"shape": str(tuple(data.shape)), "dtype": str(data.dtype)}
