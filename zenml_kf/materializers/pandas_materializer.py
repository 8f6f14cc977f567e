"""pandas DataFrames as parquet: typed columns, compact, readable by Spark and BigQuery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zenml_kf.exceptions import MaterializerError
from zenml_kf.materializers.base import BaseMaterializer, MetadataValue

_FILE = "data.parquet"


class PandasMaterializer(BaseMaterializer):
    ARTIFACT_TYPE = "system.Dataset"
    REQUIREMENTS = ("pandas", "pyarrow")  # pyarrow: the parquet engine pandas uses

    def save(self, data: Any, path: Path) -> None:
        try:
            data.to_parquet(path / _FILE)
        except ImportError:
            raise MaterializerError(
                "saving a DataFrame as parquet needs pyarrow; pip install 'zenml-kf[pandas]'"
            ) from None

    def load(self, path: Path, data_type: type) -> Any:
        import pandas as pd

        return pd.read_parquet(path / _FILE)

    def extract_metadata(self, data: Any) -> dict[str, MetadataValue]:
        return {
            "shape": str(tuple(data.shape)),
            "columns": ", ".join(map(str, data.columns))[:1024],
        }
