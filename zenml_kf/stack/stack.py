"""A stack: the orchestrator, artifact store and metadata store one run uses together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zenml_kf.artifact_stores.base import BaseArtifactStore
    from zenml_kf.metadata.base import BaseMetadataStore
    from zenml_kf.orchestrators.base import BaseOrchestrator
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository


@dataclass
class Stack:
    name: str
    orchestrator: BaseOrchestrator
    artifact_store: BaseArtifactStore
    metadata_store: BaseMetadataStore

    def run(self, pipeline: Pipeline, repository: Repository, **options: Any) -> Any:
        """A finished run (local) or a handle to a submitted one (kubeflow)."""
        return self.orchestrator.run(pipeline, self, repository, **options)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "orchestrator": self.orchestrator.describe(),
            "artifact_store": self.artifact_store.describe(),
            "metadata_store": self.metadata_store.describe(),
        }
