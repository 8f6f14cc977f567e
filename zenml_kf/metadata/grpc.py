"""ML Metadata over gRPC: a KFP cluster's `metadata-grpc-service`, in-cluster or port-forwarded.

MLMD's gRPC client connects lazily and, without a deadline, a call to an address that
drops packets waits for TCP to give up. Opening therefore probes the server once: a TCP
connect and one cheap RPC, both bounded by `connect_timeout_seconds`, so a wrong address
or a missing port-forward fails in seconds with one line. Every later call carries
`timeout_seconds` as its deadline.
"""

from __future__ import annotations

import functools
import os
import socket
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from zenml_kf.exceptions import MetadataStoreError
from zenml_kf.metadata.base import BaseMetadataStore
from zenml_kf.stack.component import MetadataStoreConfig

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore

PORT_FORWARD = "kubectl port-forward -n kubeflow svc/metadata-grpc-service 8080:8080"


class GRPCMetadataStoreConfig(MetadataStoreConfig):
    host: str = "127.0.0.1"
    """metadata-grpc-service.kubeflow in a cluster; 127.0.0.1 through a port-forward."""
    port: int = Field(default=8080, ge=1, le=65535)
    tls: bool = False
    """Talk TLS (the KFP default service speaks plain gRPC inside the cluster)."""
    ca_file: str | None = None
    """CA certificate (PEM) of a server with a private CA; implies tls."""
    client_cert_file: str | None = None
    """Client certificate (PEM) for mutual TLS, with client_key_file."""
    client_key_file: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Deadline of each call."""
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    """How long opening the store may wait for the server."""

    @field_validator("host")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        from zenml_kf.secrets import check_no_userinfo

        return check_no_userinfo(value, "ca_file, client_cert_file and client_key_file")

    @model_validator(mode="after")
    def _client_pair(self) -> GRPCMetadataStoreConfig:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("set client_cert_file and client_key_file together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None or self.client_cert_file is not None


class GRPCMetadataStore(BaseMetadataStore):
    config: GRPCMetadataStoreConfig

    @property
    def address(self) -> str:
        scheme = "grpcs" if self.config.uses_tls else "grpc"
        return f"{scheme}://{self.config.host}:{self.config.port}"

    def unreachable_hint(self) -> str:
        return (
            f"start the MLMD server, or for a KFP cluster run '{PORT_FORWARD}' "
            f"(or fix host/port: zenml metadata-store describe {self.name})"
        )

    def _pem(self, setting: str, path: str | None) -> str | None:
        if path is None:
            return None
        full = self.root / os.path.expanduser(path)
        try:
            return full.read_text()
        except OSError as exc:
            raise MetadataStoreError(
                f"cannot read {setting} {full} of metadata store '{self.name}': {exc.strerror}"
            ) from None

    def connection_config(self) -> Any:
        from ml_metadata.proto import metadata_store_pb2

        cfg = self.config
        config = metadata_store_pb2.MetadataStoreClientConfig(host=cfg.host, port=cfg.port)
        config.client_timeout_sec = cfg.timeout_seconds
        if cfg.uses_tls:
            ssl = config.ssl_config
            ssl.SetInParent()
            for field, setting, path in (
                ("custom_ca", "ca_file", cfg.ca_file),
                ("server_cert", "client_cert_file", cfg.client_cert_file),
                ("client_key", "client_key_file", cfg.client_key_file),
            ):
                pem = self._pem(setting, path)
                if pem is not None:
                    setattr(ssl, field, pem)
        return config

    def _channel(self, config: Any) -> Any:
        import grpc

        target = f"{config.host}:{config.port}"
        if not config.HasField("ssl_config"):
            return grpc.insecure_channel(target)
        ssl = config.ssl_config
        credentials = grpc.ssl_channel_credentials(
            ssl.custom_ca.encode() if ssl.custom_ca else None,
            ssl.client_key.encode() if ssl.client_key else None,
            ssl.server_cert.encode() if ssl.server_cert else None,
        )
        return grpc.secure_channel(target, credentials)

    def _probe_tcp(self) -> None:
        """Refused or silent addresses fail here, before gRPC's own reconnect backoff starts."""
        cfg = self.config
        try:
            with socket.create_connection((cfg.host, cfg.port), timeout=cfg.connect_timeout_seconds):
                return
        except TimeoutError:
            reason = f"no answer within {cfg.connect_timeout_seconds:g}s"
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        raise MetadataStoreError(
            f"cannot reach the metadata store at {self.address} ({reason}); {self.unreachable_hint()}"
        )

    def _check_service(self, config: Any) -> None:
        """One cheap RPC with a short deadline: is an MLMD service answering there?"""
        import grpc
        from ml_metadata.proto import metadata_store_service_pb2, metadata_store_service_pb2_grpc

        timeout = self.config.connect_timeout_seconds
        with self._channel(config) as channel:
            stub = metadata_store_service_pb2_grpc.MetadataStoreServiceStub(channel)
            try:
                stub.GetContextTypes(metadata_store_service_pb2.GetContextTypesRequest(), timeout=timeout)
            except grpc.RpcError as exc:
                code = exc.code() if callable(getattr(exc, "code", None)) else None
                details = (exc.details() if callable(getattr(exc, "details", None)) else "") or ""
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    reason = "it answers gRPC but is not an ML Metadata service"
                elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    reason = f"no answer within {timeout:g}s"
                else:
                    name = code.name if code is not None else "error"
                    reason = f"{name}: {details.splitlines()[0] if details else 'no details'}"
                raise MetadataStoreError(
                    f"cannot use the metadata store at {self.address} ({reason}); {self.unreachable_hint()}"
                ) from None

    @functools.cached_property
    def store(self) -> MetadataStore:
        from ml_metadata.metadata_store import metadata_store

        self._probe_tcp()
        config = self.connection_config()
        self._check_service(config)
        return metadata_store.MetadataStore(config)
