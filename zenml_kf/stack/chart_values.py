"""A registered Kubeflow stack and the values of the `zenml-kf-stack` Helm chart, both ways.

`export-values` turns a stack into chart values; the chart renders a `zenml-kf-stack`
ConfigMap whose `stack.yaml` describes the stack in the registry's own terms (component
flavors and settings), and `import-values` registers a stack from that document, from
the rendered ConfigMap (or a whole `helm template` output), or from a values file, read
with the same rules the chart's templates apply (`charts/zenml-kf-stack/templates/
_helpers.tpl`), so each way gives an equal stack.

Only what a cluster stack is made of travels: a kubeflow orchestrator, an s3 or gcp
artifact store and ML Metadata over gRPC. Credentials never do: the chart refers to
existing Kubernetes secrets, and the local settings name environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from zenml_kf.exceptions import StackError
from zenml_kf.repository import ComponentEntry
from zenml_kf.stack.types import ComponentType

CONFIGMAP = "zenml-kf-stack"
DOCUMENT_KEY = "stack.yaml"
DEFAULT_SERVICE_ACCOUNT = "zenml-kf-pipeline"
# The secret KFP's own MinIO install keeps its keys in
# (manifests/kustomize/third-party/minio/base/mlpipeline-minio-artifact-secret.yaml, KFP 2.5.0).
KFP_MINIO_SECRET = ("mlpipeline-minio-artifact", "accesskey", "secretkey")
MINIO_PORT = 9000
MLMD_PORT = 8080


class StackDoc(BaseModel):
    """The `stack.yaml` of the `zenml-kf-stack` ConfigMap."""

    model_config = ConfigDict(extra="forbid")
    stack: str
    orchestrator: ComponentEntry
    artifact_store: ComponentEntry
    metadata_store: ComponentEntry

    def component(self, type_: ComponentType) -> ComponentEntry:
        doc: ComponentEntry = getattr(self, type_.value)
        return doc


# --- stack -> values --------------------------------------------------------------------


def values_for(doc: StackDoc, s3_secret: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """Chart values that make the chart describe `doc` (and point KFP at its bucket).

    `s3_secret` is (secret name, access key key, secret key key) of the Kubernetes secret
    pods read S3 keys from. KFP's launcher uses a configured endpoint only with such a
    secret (with `fromEnv` it opens the bucket from its environment alone:
    backend/src/v2/objectstore/object_store.go, KFP 2.5.0), so a store with an endpoint
    gets KFP's own MinIO secret unless one is given; on AWS credentials come from the
    environment (IRSA) unless one is given.
    """
    orchestrator, store, mlmd = doc.orchestrator, doc.artifact_store, doc.metadata_store
    if orchestrator.flavor != "kubeflow":
        raise StackError(
            f"stack '{doc.stack}' runs on a {orchestrator.flavor} orchestrator; the chart provisions "
            "Kubeflow stacks (zenml stack register NAME --orchestrator kubeflow ...)"
        )
    if mlmd.flavor != "grpc":
        raise StackError(
            f"stack '{doc.stack}' keeps ML Metadata in {mlmd.flavor}; the chart gives pipelines ML "
            "Metadata over gRPC (KFP's metadata-grpc-service, or its own with --set mlmd.enabled=true)"
        )
    o = orchestrator.config
    values: dict[str, Any] = {
        "stackName": doc.stack,
        "kfp": {"host": o.get("host") or "", "namespace": o.get("namespace") or ""},
        "imageRegistry": o.get("image_registry") or "",
        "serviceAccount": {"name": o.get("service_account") or DEFAULT_SERVICE_ACCOUNT},
        "metadataStore": {
            "grpc": {
                "host": mlmd.config.get("host", "127.0.0.1"),
                "port": int(mlmd.config.get("port", MLMD_PORT)),
            }
        },
    }
    s = store.config
    root = _root_uri(store) if store.flavor in ("s3", "gcp") else ""
    if store.flavor == "s3":
        endpoint = urlsplit(s["endpoint_url"]) if s.get("endpoint_url") else None
        values["artifactStore"] = {
            "type": "s3",
            "pipelineRoot": root,
            "s3": {
                "endpoint": endpoint.netloc if endpoint else "",
                "region": s.get("region") or "",
                "disableSSL": bool(endpoint and endpoint.scheme == "http"),
                "forcePathStyle": bool(s.get("path_style", False)),
                "credentials": _s3_credentials(s3_secret or (KFP_MINIO_SECRET if endpoint else None)),
            },
        }
    elif store.flavor == "gcp":
        values["artifactStore"] = {
            "type": "gcs",
            "pipelineRoot": root,
            "gcs": {"project": s.get("project") or "", "credentials": {"fromEnv": True}},
        }
    else:
        raise StackError(
            f"stack '{doc.stack}' keeps artifacts in a {store.flavor} store, which pipeline pods cannot "
            "reach; the chart needs an s3 or gcp artifact store"
        )
    return values


def _s3_credentials(secret: tuple[str, str, str] | None) -> dict[str, Any]:
    if secret is None:
        return {"fromEnv": True}
    name, access_key, secret_key = secret
    return {"fromEnv": False, "secretName": name, "accessKeyKey": access_key, "secretKeyKey": secret_key}


def parse_secret_ref(text: str) -> tuple[str, str, str]:
    """`NAME` or `NAME:ACCESS_KEY_KEY:SECRET_KEY_KEY` (keys default to AWS's variable names)."""
    parts = text.split(":")
    if len(parts) == 1 and parts[0]:
        return parts[0], "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise StackError(
        f"--s3-credentials-secret '{text}' is not NAME or NAME:ACCESS_KEY_KEY:SECRET_KEY_KEY; name the "
        "Kubernetes secret (and its keys) pods read S3 keys from"
    )


def _root_uri(store: ComponentEntry) -> str:
    """The store's root as its own config computes it (stored settings, no env overrides)."""
    from zenml_kf.stack.flavors import FlavorRegistry

    config_class = FlavorRegistry().get(ComponentType.ARTIFACT_STORE, store.flavor).config_class()
    root: str = config_class.model_validate(store.config).root_uri()
    return root


# --- values / ConfigMap -> stack ---------------------------------------------------------


def doc_from_values(
    values: dict[str, Any], release: str = "zenml-kf-stack", namespace: str = "default"
) -> StackDoc:
    """The `stack.yaml` the chart renders for `values` (the rules of its `_helpers.tpl`).

    The in-chart MinIO and MLMD services are named after the release, as Helm names them
    (`<release>-minio`, `<release>-mlmd`; a release whose name contains the chart's uses it
    alone), so pass the release and namespace the chart is installed with.
    """
    full = release if "zenml-kf-stack" in release else f"{release}-zenml-kf-stack"
    full = full[:63].rstrip("-")
    kfp = values.get("kfp") or {}
    orchestrator: dict[str, Any] = {}
    for key, value in (
        ("host", kfp.get("host")),
        ("namespace", kfp.get("namespace")),
        ("image_registry", values.get("imageRegistry")),
    ):
        if value:
            orchestrator[key] = value
    orchestrator["service_account"] = (values.get("serviceAccount") or {}).get(
        "name", DEFAULT_SERVICE_ACCOUNT
    )
    store = values.get("artifactStore") or {}
    minio = values.get("minio") or {}
    if minio.get("enabled"):
        artifact = ComponentEntry(
            flavor="s3",
            config={
                "path": store.get("pipelineRoot") or f"s3://{minio.get('bucket', 'zenml-artifacts')}",
                "endpoint_url": f"http://{full}-minio.{namespace}:{MINIO_PORT}",
                "path_style": True,
            },
        )
    elif store.get("type", "s3") == "s3":
        s3 = store.get("s3") or {}
        config: dict[str, Any] = {"path": store.get("pipelineRoot", "")}
        if s3.get("endpoint"):
            scheme = "http" if s3.get("disableSSL") else "https"
            config["endpoint_url"] = f"{scheme}://{s3['endpoint']}"
        if s3.get("region"):
            config["region"] = s3["region"]
        if s3.get("forcePathStyle"):
            config["path_style"] = True
        artifact = ComponentEntry(flavor="s3", config=config)
    else:
        gcs = store.get("gcs") or {}
        config = {"path": store.get("pipelineRoot", "")}
        if gcs.get("project"):
            config["project"] = gcs["project"]
        artifact = ComponentEntry(flavor="gcp", config=config)
    mlmd_values = values.get("mlmd") or {}
    grpc = (values.get("metadataStore") or {}).get("grpc") or {}
    if mlmd_values.get("enabled"):
        metadata = {"host": f"{full}-mlmd.{namespace}", "port": MLMD_PORT}
    else:
        metadata = {
            "host": grpc.get("host", "metadata-grpc-service.kubeflow"),
            "port": int(grpc.get("port", MLMD_PORT)),
        }
    return StackDoc(
        stack=values.get("stackName", "kubeflow"),
        orchestrator=ComponentEntry(flavor="kubeflow", config=orchestrator),
        artifact_store=artifact,
        metadata_store=ComponentEntry(flavor="grpc", config=metadata),
    )


def load_stack_doc(path: Path, release: str = "zenml-kf-stack", namespace: str = "default") -> StackDoc:
    """A StackDoc from a file holding any of: the `stack.yaml` document, the rendered
    `zenml-kf-stack` ConfigMap (alone or in a whole `helm template` output), or chart values."""
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except OSError as exc:
        raise StackError(f"cannot read '{path}': {exc.strerror}; check the path") from None
    except yaml.YAMLError as exc:
        raise StackError(f"'{path}' is not valid YAML ({str(exc).splitlines()[0]}); fix it") from None
    for document in documents:
        if document.get("kind") == "ConfigMap" and (document.get("metadata") or {}).get("name") == CONFIGMAP:
            text = (document.get("data") or {}).get(DOCUMENT_KEY)
            if not isinstance(text, str):
                raise StackError(
                    f"ConfigMap {CONFIGMAP} in '{path}' has no {DOCUMENT_KEY}; render it with the chart"
                )
            return _parse(yaml.safe_load(text), path)
    for document in documents:
        if "orchestrator" in document and "stack" in document:
            return _parse(document, path)
        if "artifactStore" in document or "stackName" in document:
            return doc_from_values(document, release, namespace)
    raise StackError(
        f"'{path}' holds no stack: give the chart's values, its rendered {CONFIGMAP} ConfigMap, "
        f"or that ConfigMap's {DOCUMENT_KEY}"
    )


def _parse(raw: Any, path: Path) -> StackDoc:
    try:
        return StackDoc.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise StackError(f"the stack in '{path}' is malformed ({where}: {error['msg']})") from None
