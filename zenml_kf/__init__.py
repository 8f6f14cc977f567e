"""zenml-kf: ML pipelines as plain Python functions, run locally or compiled to Kubeflow.

Names are resolved on first use so `import zenml_kf` (and `zenml --help`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "step": "zenml_kf.steps.step",
    "BaseStepConfig": "zenml_kf.steps.config",
    "Output": "zenml_kf.steps.output",
    "pipeline": "zenml_kf.pipelines.pipeline",
    "Repository": "zenml_kf.repository",
    "BaseMaterializer": "zenml_kf.materializers.base",
    "register_materializer": "zenml_kf.materializers.registry",
    "Schedule": "zenml_kf.orchestrators.schedule",
}

if TYPE_CHECKING:
    from zenml_kf.materializers.base import BaseMaterializer
    from zenml_kf.materializers.registry import register_materializer
    from zenml_kf.orchestrators.schedule import Schedule
    from zenml_kf.pipelines.pipeline import pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.steps.config import BaseStepConfig
    from zenml_kf.steps.output import Output
    from zenml_kf.steps.step import step

__all__ = [
    "BaseMaterializer",
    "BaseStepConfig",
    "Output",
    "Repository",
    "Schedule",
    "__version__",
    "pipeline",
    "register_materializer",
    "step",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source of truth: the installed distribution
        from importlib.metadata import version

        return version("zenml-kf")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'zenml_kf' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
