"""One connection to a KFP API through `kfp.Client`, with errors a user can act on.

kfp.Client retries its first health check five times, five seconds apart, and urllib3
retries each request three more times, so an unreachable or refusing server would take
half a minute or more to report. The connection checks reachability and credentials
once, quickly, asks every request to time out, and turns what goes wrong into one
`KubeflowError` line: the address, the status, and what to check.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from zenml_kf.artifact_stores._remote_secrets import read_env_secret, read_secret_file
from zenml_kf.exceptions import ZenMLKFError, first_line
from zenml_kf.orchestrators.kubeflow.config import POD_TOKEN_FILE, KubeflowOrchestratorConfig

if TYPE_CHECKING:
    import kfp

T = TypeVar("T")


class KubeflowError(ZenMLKFError):
    """The KFP API cannot be reached, refuses the credentials, or rejects a request."""


class KFPConnection:
    """A `kfp.Client` for one orchestrator's settings, plus the generated API objects for
    the calls kfp.Client makes without a timeout or without a field we need."""

    def __init__(self, config: KubeflowOrchestratorConfig) -> None:
        self.config = config
        self.host = config.host or ""
        self.timeout = (min(10.0, config.request_timeout_seconds), config.request_timeout_seconds)
        self._check_reachable()
        self.client = self._client()

    @property
    def where(self) -> str:
        return f"KFP at {self.host}" if self.host else "the in-cluster KFP API"

    def ui_url(self, path: str) -> str:
        """A link into the KFP UI (`#/runs/details/ID`), beside the API endpoint."""
        return f"{self.client._get_url_prefix()}/#/{path.lstrip('/')}"

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one API call; any failure is a one-line KubeflowError naming `what`."""
        import kfp_server_api
        import urllib3

        try:
            with contextlib.redirect_stdout(io.StringIO()):  # kfp.Client prints links itself
                return fn(*args, **kwargs)
        except kfp_server_api.ApiException as exc:
            raise KubeflowError(self._api_error(what, exc)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeflowError(
                f"{what}: {self.where} did not answer within {self.config.request_timeout_seconds:g} s "
                f"({first_line(exc)}); check the host and that the KFP API is up"
            ) from exc

    def api(self, name: str) -> Any:
        """A generated service API (`RunServiceApi`, ...) on this client's connection."""
        import kfp_server_api

        return getattr(kfp_server_api, name)(self.client._run_api.api_client)

    # --- setting up -------------------------------------------------------------------

    def _check_reachable(self) -> None:
        if not self.host:
            return
        parts = urlsplit(self.host)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=self.timeout[0]):
                pass
        except OSError as exc:
            raise KubeflowError(
                f"cannot reach KFP at {self.host} ({exc.strerror or first_line(exc)}); check the host, "
                "or start a port-forward: kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80"
            ) from exc

    def _client(self) -> kfp.Client:
        import kfp_server_api

        token, cookies = self._credentials()
        # The health check kfp.Client makes when no namespace is set: once, with a timeout,
        # so a refusal is reported now instead of after five retries.
        configuration = kfp_server_api.Configuration(host=self.host or None)
        configuration.verify_ssl = self.config.verify_tls
        if self.config.ssl_ca_cert:
            configuration.ssl_ca_cert = self.config.ssl_ca_cert
        if token:
            configuration.api_key["authorization"] = token
            configuration.api_key_prefix["authorization"] = "Bearer"
        probe = kfp_server_api.ApiClient(configuration, cookie=cookies)
        _no_retries(probe)
        health = kfp_server_api.HealthzServiceApi(probe)
        self.call("checking the KFP API", health.healthz_service_get_healthz, _request_timeout=self.timeout)
        import kfp

        with contextlib.redirect_stderr(io.StringIO()):  # kfp.Client warns about its versions
            client = kfp.Client(
                host=self.host or None,
                namespace=self.config.namespace or "kubeflow",
                existing_token=token,
                cookies=cookies,
                ssl_ca_cert=self.config.ssl_ca_cert,
                verify_ssl=self.config.verify_tls,
            )
        _no_retries(client._run_api.api_client)
        if self.config.namespace:
            client._context_setting["namespace"] = self.config.namespace  # this client only, not ~/.config
        return client

    def _credentials(self) -> tuple[str | None, str | None]:
        cfg = self.config
        if cfg.token_env:
            return read_env_secret(cfg.token_env, "token_env"), None
        if cfg.token_file:
            return read_secret_file(cfg.token_file, "token_file"), None
        if cfg.pod_token:
            return read_secret_file(POD_TOKEN_FILE, "pod_token"), None
        if cfg.cookie_env:
            return None, read_env_secret(cfg.cookie_env, "cookie_env")
        return None, None

    def _api_error(self, what: str, exc: Any) -> str:
        status = int(getattr(exc, "status", 0) or 0)
        detail = _message(getattr(exc, "body", None)) or str(getattr(exc, "reason", "")) or "no detail"
        if status == 401:
            return (
                f"{what}: {self.where} refused the request as unauthenticated (401: {detail}); set the "
                "orchestrator's token_env, token_file or cookie_env"
            )
        # The upload endpoints answer an authorization failure with 400 and a message
        # (backend/src/apiserver/server/pipeline_upload_server.go, KFP 2.5.0).
        if status == 403 or "PermissionDenied" in detail or "not authorized" in detail:
            namespace = f" in namespace '{self.config.namespace}'" if self.config.namespace else ""
            return (
                f"{what}: {self.where} denied access{namespace} ({status}: {detail}); check the namespace "
                "and that your account may use it"
            )
        if status == 404:
            return f"{what}: not found on {self.where} (404: {detail})"
        return f"{what}: {self.where} answered {status or 'an error'} ({detail})"


def _message(body: Any) -> str:
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        parsed = json.loads(text)
    except ValueError:
        return first_line(text)
    if isinstance(parsed, dict):
        return first_line(parsed.get("message") or parsed.get("error_message") or parsed.get("error") or text)
    return first_line(text)


def _no_retries(api_client: Any) -> None:
    """urllib3 retries a failed request three times by default; one attempt per call, so a
    request's timeout is the time it may take."""
    import urllib3

    api_client.rest_client.pool_manager.connection_pool_kw["retries"] = urllib3.Retry(
        total=1, connect=1, read=0, redirect=2, status=0
    )
