"""Checks that span a stack's components, in one place.

A component's own settings are checked by its config; what only makes sense together is
checked here, when a stack is registered and again before it runs (environment
variables may have changed a component since). Only flavor names are needed, so nothing
heavy is imported.
"""

from __future__ import annotations

from zenml_kf.exceptions import StackError

# Flavors whose data a pod in a cluster cannot reach.
_MACHINE_LOCAL = {"artifact_store": {"local"}, "metadata_store": {"sqlite"}}
_REMOTE_ORCHESTRATORS = {"kubeflow"}


def check_stack(name: str, orchestrator: str, artifact_store: str, metadata_store: str) -> None:
    """Raise a StackError naming the first combination of flavors that cannot work."""
    if orchestrator not in _REMOTE_ORCHESTRATORS:
        return
    if artifact_store in _MACHINE_LOCAL["artifact_store"]:
        raise StackError(
            f"stack '{name}' runs on Kubeflow but its artifact store is a folder on this machine, "
            "which pipeline pods cannot reach; use a gcp or s3 artifact store (zenml artifact-store "
            "register NAME --flavor s3 --path s3://BUCKET/PREFIX)"
        )
    if metadata_store in _MACHINE_LOCAL["metadata_store"]:
        raise StackError(
            f"stack '{name}' runs on Kubeflow but its metadata store is a sqlite file on this machine, "
            "which KFP cannot write to; use the cluster's ML Metadata (zenml metadata-store register "
            "NAME --flavor grpc --host HOST --port 8080) or a mysql one"
        )
