"""Any other object, with cloudpickle: it works, but ties the artifact to the code version."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

from zenml_kf.materializers.base import BaseMaterializer

_FILE = "data.pkl"


class PickleMaterializer(BaseMaterializer):
    REQUIREMENTS: ClassVar[tuple[str, ...]] = ("cloudpickle",)

    @classmethod
    def requirements_for(cls, data_type: str) -> tuple[str, ...]:
        """cloudpickle, and the library defining the pickled class: unpickling imports it."""
        from zenml_kf.images.distributions import distribution_of_module

        library = distribution_of_module(data_type)
        return (*cls.REQUIREMENTS, library) if library else cls.REQUIREMENTS

    def save(self, data: Any, path: Path) -> None:
        import cloudpickle

        with open(path / _FILE, "wb") as f:
            cloudpickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, path: Path, data_type: type) -> Any:
        with open(path / _FILE, "rb") as f:
            return pickle.load(f)


class SklearnMaterializer(PickleMaterializer):
    """scikit-learn estimators: pickled as scikit-learn itself recommends, typed as models."""

    ARTIFACT_TYPE = "system.Model"
    REQUIREMENTS = ("cloudpickle", "scikit-learn")
