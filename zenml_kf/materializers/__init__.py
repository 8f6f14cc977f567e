"""Materializers: how step outputs become files in the artifact store and back."""

from zenml_kf.materializers.base import BaseMaterializer
from zenml_kf.materializers.registry import (
    MaterializerRegistry,
    default_registry,
    register_materializer,
)

__all__ = ["BaseMaterializer", "MaterializerRegistry", "default_registry", "register_materializer"]
