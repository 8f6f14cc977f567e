"""ML Metadata in a MySQL or MariaDB database: a metadata store a team (or a KFP cluster) shares.

The password never sits in `.zen/`: `password_env` names an env var and `password_file` a
mounted secret file. Opening fails fast with one line: reading the server's greeting,
bounded by `connect_timeout_seconds`, tells "nothing listens there" and "something
listens but never answers" apart from "the server refused the login", and the MySQL
client's own log lines (written straight to fd 2) are kept off the terminal, since MLMD's
exception names no cause. Concurrent first connections to an empty database race to
create MLMD's tables; MLMD then asks to retry, which opening does for a bounded time.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from zenml_kf.artifact_stores._remote_secrets import EnvVarName, read_env_secret, read_secret_file
from zenml_kf.exceptions import MetadataStoreError, first_line
from zenml_kf.log import get_logger
from zenml_kf.metadata.base import BaseMetadataStore, StoreBusy, defer_import
from zenml_kf.stack.component import MetadataStoreConfig

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore

logger = get_logger(__name__)


class MySQLMetadataStoreConfig(MetadataStoreConfig):
    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    database: str = "mlmd"
    """Created on first use unless skip_db_creation (then it must exist)."""
    user: str = "root"
    password_env: EnvVarName | None = None
    """Name of the env var holding the password."""
    password_file: str | None = None
    """File holding the password (e.g. a mounted Kubernetes secret)."""
    skip_db_creation: bool = False
    """Do not CREATE DATABASE: for users without that grant."""
    ssl_ca: str | None = None
    """CA certificate file: turns TLS on."""
    ssl_capath: str | None = None
    ssl_cert: str | None = None
    """Client certificate file, for servers that require one."""
    ssl_key: str | None = None
    """Client key file, with ssl_cert."""
    ssl_cipher: str | None = None
    ssl_verify_server_cert: bool = False
    """Also check the server certificate's host name."""
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    """How long to wait for the server to answer before giving up."""
    max_retries: int = Field(default=5, ge=1, le=20)
    """Retries of a transaction aborted by a concurrent writer (deadlock, lock wait)."""

    @field_validator("host", "database")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        from zenml_kf.secrets import check_no_userinfo

        return check_no_userinfo(value, "password_env or password_file")

    @field_validator("user")
    @classmethod
    def _user_name(cls, value: str) -> str:
        from zenml_kf.secrets import check_no_userinfo

        if ":" in value or "@" in value:
            raise ValueError(
                "the user holds more than a user name (':' or '@'); give the password with "
                "password_env or password_file instead"
            )
        return check_no_userinfo(value, "password_env or password_file")

    @model_validator(mode="after")
    def _one_password_source(self) -> MySQLMetadataStoreConfig:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("set password_env or password_file, not both")
        if (self.ssl_cert is None) != (self.ssl_key is None):
            raise ValueError("set ssl_cert and ssl_key together")
        return self


class MySQLMetadataStore(BaseMetadataStore):
    config: MySQLMetadataStoreConfig

    @property
    def address(self) -> str:
        cfg = self.config
        return f"mysql://{cfg.user}@{cfg.host}:{cfg.port}/{cfg.database}"

    def unreachable_hint(self) -> str:
        return (
            f"start the server or fix host/port (zenml metadata-store describe {self.name}); "
            "through a cluster, run kubectl port-forward to the MySQL service first"
        )

    def _password_source(self) -> str:
        if self.config.password_env:
            return f"the password in ${self.config.password_env}"
        if self.config.password_file:
            return f"the password in {self.config.password_file}"
        return "the password (none is set: register the store with --password-env or --password-file)"

    def _password(self) -> str:
        purpose = f"metadata store '{self.name}'"
        if self.config.password_env:
            return read_env_secret(self.config.password_env, purpose)
        if self.config.password_file:
            path = self.root / os.path.expanduser(self.config.password_file)
            return read_secret_file(path, purpose)
        return ""

    def connection_config(self) -> Any:
        from ml_metadata.proto import metadata_store_pb2

        cfg = self.config
        config = metadata_store_pb2.ConnectionConfig()
        mysql = config.mysql
        mysql.host = cfg.host
        mysql.port = cfg.port
        mysql.database = cfg.database
        mysql.user = cfg.user
        mysql.password = self._password()
        mysql.skip_db_creation = cfg.skip_db_creation
        ssl = {
            "ca": cfg.ssl_ca,
            "capath": cfg.ssl_capath,
            "cert": cfg.ssl_cert,
            "key": cfg.ssl_key,
            "cipher": cfg.ssl_cipher,
        }
        for field, value in ssl.items():
            if value is not None:
                setattr(
                    mysql.ssl_options,
                    field,
                    str(self.root / os.path.expanduser(value)) if field != "cipher" else value,
                )
        if cfg.ssl_verify_server_cert:
            mysql.ssl_options.verify_server_cert = True
        config.retry_options.max_num_retries = cfg.max_retries
        return config

    @functools.cached_property
    def store(self) -> MetadataStore:
        cfg = self.config
        version = probe(
            cfg.host, cfg.port, cfg.connect_timeout_seconds, self.address, self.unreachable_hint()
        )
        logger.debug("metadata store %s: server %s", self.address, version)
        return self.open_store()

    def half_made_hint(self) -> str:
        return "drop the half-made database if no other run is starting"

    def _open(self) -> MetadataStore:
        defer_import("grpc")  # as the base store: the MySQL path never uses it
        from ml_metadata import errors
        from ml_metadata.metadata_store import metadata_store

        config = self.connection_config()
        try:
            with native_stderr_captured() as captured:
                return metadata_store.MetadataStore(config)
        except (errors.StatusError, RuntimeError) as exc:
            message = str(exc)
            logger.debug("MLMD could not open %s: %s %s", self.address, message, captured())
            # Two first connections creating the schema: MLMD reports it as a concurrent
            # connection, or MySQL/MariaDB aborts one of them as a deadlock; both settle.
            busy = StoreBusy(half_made=True) if "Deadlock found" in message else StoreBusy.of(message)
            if busy is not None:
                raise busy from exc
            where = f"{self.config.host}:{self.config.port}"
            if "mysql_real_connect" in message:
                raise MetadataStoreError(
                    f"the MySQL server at {where} refused user '{self.config.user}' on database "
                    f"'{self.config.database}' (wrong password, unknown user, missing grants or "
                    f"TLS required); check {self._password_source()} and the user's grants"
                ) from exc
            reason = first_line(message) if message.strip() else type(exc).__name__
            raise MetadataStoreError(
                f"cannot open the metadata store at {self.address} ({reason}); check the database "
                "and the user's grants"
            ) from exc


def probe(host: str, port: int, timeout: float, address: str, hint: str) -> str:
    """The server's version from its greeting, read within `timeout`; else one clear error.

    MLMD's MySQL client waits without a deadline and holds the GIL while it does, so a
    server that accepts connections but never speaks (a wedged pod behind a port-forward)
    would hang the process for good. The MySQL server speaks first, so reading its
    greeting here bounds that wait and tells the causes apart.
    """
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            header = _receive(sock, 4, deadline)
            payload = _receive(sock, min(int.from_bytes(header[:3], "little"), 4096), deadline)
    except TimeoutError:
        reason = f"no answer within {timeout:g}s"
    except _Closed:
        reason = "the connection was closed before the server greeted"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    else:
        if payload[:1] == b"\xff":  # an error packet instead of a greeting
            code = int.from_bytes(payload[1:3], "little")
            message = payload[3:].decode("utf-8", "replace").lstrip("#")
            raise MetadataStoreError(
                f"the MySQL server at {host}:{port} refused the connection ({code}: {message})"
            )
        if payload[:1] != b"\x0a":
            raise MetadataStoreError(
                f"{host}:{port} answered but is not a MySQL or MariaDB server; fix host/port of "
                "the metadata store"
            )
        return payload[1:].split(b"\0", 1)[0].decode("ascii", "replace")
    raise MetadataStoreError(f"cannot reach the metadata store at {address} ({reason}); {hint}")


class _Closed(Exception):
    """The server closed the connection early."""


def _receive(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise _Closed()
        data += chunk
    return data


@contextmanager
def native_stderr_captured() -> Iterator[Any]:
    """Route fd 2 to a temp file while native code runs; yields a getter for what it wrote.

    MLMD's C++ layer logs connection failures with glog straight to fd 2, past Python's
    sys.stderr, so a failed open would print lines around our one-line error.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        text: list[str] = []
        try:
            yield lambda: "".join(text)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.append(sink.read().decode("utf-8", "replace").strip())
