"""Settings of a kubeflow orchestrator, as `zenml orchestrator register NAME --flavor kubeflow` stores them.

Like the stores' settings they name where a secret lives (an environment variable or a
file), never the secret, because `.zen/config.yaml` is committed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from zenml_kf.artifact_stores._remote_secrets import EnvVarName
from zenml_kf.secrets import has_userinfo, looks_like_secret
from zenml_kf.stack.component import OrchestratorConfig

# Where Kubernetes mounts a pod's KFP service-account token (kfp.Client reads the same
# path for its in-cluster credentials: kfp/client/set_volume_credentials.py).
POD_TOKEN_FILE = "/var/run/secrets/kubeflow/pipelines/token"


class KubeflowOrchestratorConfig(OrchestratorConfig):
    host: str | None = None
    """KFP API endpoint, e.g. http://localhost:8080 or https://kubeflow.example.com/pipeline; none inside the cluster."""
    namespace: str | None = None
    """Profile namespace of a multi-user Kubeflow; none for a standalone KFP."""
    experiment: str | None = None
    """Experiment runs are grouped under; the pipeline's name when unset."""
    service_account: str | None = None
    """Kubernetes service account the pipeline's pods run as."""
    token_env: EnvVarName | None = None
    """Name of the env var holding a bearer token for the KFP API (same rule as the stores' *_env)."""
    token_file: str | None = None
    """File holding a bearer token (e.g. a mounted service-account token)."""
    pod_token: bool = False
    """Use this pod's KFP service-account token (in-cluster notebooks and pipelines)."""
    cookie_env: EnvVarName | None = None
    """Name of the env var holding a session cookie (Dex / oauth2-proxy), as NAME=VALUE."""
    ssl_ca_cert: str | None = None
    """CA bundle file of a KFP endpoint with a private certificate authority."""
    verify_tls: bool = True
    """Check the KFP endpoint's TLS certificate."""
    image_registry: str | None = None
    """Repository built step images are pushed to, e.g. registry.example.com/team/steps."""
    python_image: str = "python:3.11-slim"
    """Python 3.11 image the zenml-kf base image starts from, when one is built."""
    base_image: str | None = None
    """A ready zenml-kf base image (skips building one)."""
    requirements: list[str] = Field(default_factory=list)
    """requirements.txt files of the steps' own dependencies, relative to the repository root."""
    wheelhouse: str | None = None
    """Folder of wheels image builds install from, with no network."""
    index_url: str | None = None
    """Package index pip uses in image builds (behind a proxy)."""
    wait: bool = False
    """Follow each run to its end (zenml run --wait)."""
    timeout_seconds: int = Field(default=24 * 3600, ge=1)
    """How long --wait follows a run before giving up (the run goes on)."""
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Timeout of one request to the KFP API."""
    poll_seconds: float = Field(default=5.0, gt=0, le=600)
    """How often --wait asks for the run's state."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Default step settings (resources, secrets, ...) under the pipeline's and steps' own."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if has_userinfo(value) or looks_like_secret(value):
            raise ValueError("the host URL holds credentials; use token_env, token_file or cookie_env")
        parts = urlsplit(value if "://" in value else f"https://{value}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http(s) URL of the KFP API")
        if parts.username or parts.password:
            raise ValueError("the host URL holds credentials; use token_env, token_file or cookie_env")
        return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")

    @field_validator("requirements", mode="before")
    @classmethod
    def _requirement_files(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the command line or an env var: comma-separated
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("index_url")
    @classmethod
    def _index_url(cls, value: str | None) -> str | None:
        if value is not None and (has_userinfo(value) or looks_like_secret(value)):
            raise ValueError("the index URL holds credentials; give pip a netrc or keyring instead")
        return value

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the command line or an env var: JSON
            import json

            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"settings must be a JSON object ({exc})") from None
        return value

    @field_validator("settings")
    @classmethod
    def _valid_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        from zenml_kf.pipelines.settings import StepSettings

        StepSettings.model_validate(value)
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> KubeflowOrchestratorConfig:
        given = [n for n in ("token_env", "token_file", "cookie_env") if getattr(self, n)]
        if self.pod_token:
            given.append("pod_token")
        if len(given) > 1:
            raise ValueError(f"give one way to authenticate, not {' and '.join(given)}")
        return self
