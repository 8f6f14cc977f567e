"""Kinds of stack component; kept apart from the configs so the CLI can name them cheaply."""

from __future__ import annotations

from enum import StrEnum


class ComponentType(StrEnum):
    ORCHESTRATOR = "orchestrator"
    ARTIFACT_STORE = "artifact_store"
    METADATA_STORE = "metadata_store"

    @property
    def cli_name(self) -> str:
        return self.value.replace("_", "-")

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def env_prefix(self) -> str:
        return f"ZENML_KF_{self.value.upper()}_"
