"""The flavor registry: which config and implementation each `--flavor` name means.

Flavors name their classes by source so listing or validating a flavor never imports
the cloud SDK its implementation needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zenml_kf.exceptions import StackError
from zenml_kf.source import load_source
from zenml_kf.stack.types import ComponentType


@dataclass(frozen=True)
class Flavor:
    type: ComponentType
    name: str
    config_source: str
    implementation_source: str
    description: str

    def config_class(self) -> Any:
        return load_source(self.config_source)

    def implementation(self) -> Any:
        return load_source(self.implementation_source)


_BUILT_IN = (
    Flavor(
        ComponentType.ORCHESTRATOR,
        "local",
        "zenml_kf.orchestrators.local:LocalOrchestratorConfig",
        "zenml_kf.orchestrators.local:LocalOrchestrator",
        "runs steps on this machine, independent steps in parallel",
    ),
    Flavor(
        ComponentType.ORCHESTRATOR,
        "kubeflow",
        "zenml_kf.orchestrators.kubeflow.config:KubeflowOrchestratorConfig",
        "zenml_kf.orchestrators.kubeflow.orchestrator:KubeflowOrchestrator",
        "submits to Kubeflow Pipelines: every step a container, the KFP UI to watch it",
    ),
    Flavor(
        ComponentType.ARTIFACT_STORE,
        "local",
        "zenml_kf.artifact_stores.local:LocalArtifactStoreConfig",
        "zenml_kf.artifact_stores.local:LocalArtifactStore",
        "a folder on this machine",
    ),
    Flavor(
        ComponentType.METADATA_STORE,
        "sqlite",
        "zenml_kf.metadata.sqlite:SQLiteMetadataStoreConfig",
        "zenml_kf.metadata.sqlite:SQLiteMetadataStore",
        "ML Metadata in a sqlite file",
    ),
    Flavor(
        ComponentType.ARTIFACT_STORE,
        "gcp",
        "zenml_kf.artifact_stores.gcp:GCPArtifactStoreConfig",
        "zenml_kf.artifact_stores.gcp:GCPArtifactStore",
        "a Google Cloud Storage bucket (gs://bucket/prefix)",
    ),
    Flavor(
        ComponentType.ARTIFACT_STORE,
        "s3",
        "zenml_kf.artifact_stores.s3:S3ArtifactStoreConfig",
        "zenml_kf.artifact_stores.s3:S3ArtifactStore",
        "an S3 or S3-compatible bucket (s3://bucket/prefix; MinIO via endpoint_url)",
    ),
    Flavor(
        ComponentType.METADATA_STORE,
        "mysql",
        "zenml_kf.metadata.mysql:MySQLMetadataStoreConfig",
        "zenml_kf.metadata.mysql:MySQLMetadataStore",
        "ML Metadata in a MySQL or MariaDB database",
    ),
    Flavor(
        ComponentType.METADATA_STORE,
        "grpc",
        "zenml_kf.metadata.grpc:GRPCMetadataStoreConfig",
        "zenml_kf.metadata.grpc:GRPCMetadataStore",
        "an ML Metadata gRPC server (a KFP cluster's metadata-grpc-service)",
    ),
)


class FlavorRegistry:
    def __init__(self, flavors: tuple[Flavor, ...] = _BUILT_IN) -> None:
        self._flavors = {(f.type, f.name): f for f in flavors}

    def register(self, flavor: Flavor) -> None:
        self._flavors[(flavor.type, flavor.name)] = flavor

    def get(self, type_: ComponentType, name: str) -> Flavor:
        found = self._flavors.get((type_, name))
        if found is None:
            known = ", ".join(self.names(type_))
            raise StackError(f"unknown {type_.label} flavor '{name}'; available flavors: {known}")
        return found

    def names(self, type_: ComponentType) -> list[str]:
        return sorted(n for t, n in self._flavors if t == type_)
