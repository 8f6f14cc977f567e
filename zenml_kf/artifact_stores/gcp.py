"""Google Cloud Storage: `gs://bucket/prefix`, through google-cloud-storage.

Credentials, first match wins: a credentials JSON (service account key, external
account...) from the env var named by `credentials_env` (its content or a path) or from
`credentials_file`; none for `anonymous` or an emulator (`endpoint_url`,
STORAGE_EMULATOR_HOST); else Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud, workload identity). Files up to `chunk_size_mb` go in one request; larger ones are
streamed from disk into a resumable upload session (see `_remote_gcs_upload`), so memory
stays flat whatever the size. Downloads stream to disk.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from pydantic import field_validator

from zenml_kf.artifact_stores._remote import (
    ArtifactStoreError,
    RemoteArtifactStore,
    RemoteArtifactStoreConfig,
    run_concurrently,
)
from zenml_kf.artifact_stores._remote_gcs_upload import stream_upload
from zenml_kf.artifact_stores._remote_secrets import EnvVarName, read_env_secret
from zenml_kf.exceptions import first_line


class GCPArtifactStoreConfig(RemoteArtifactStoreConfig):
    SCHEME: ClassVar[str] = "gs"

    project: str | None = None
    """Project for the client; taken from the credentials when unset."""
    credentials_file: str | None = None
    """Path of a credentials JSON (service account key, external account...)."""
    credentials_env: EnvVarName | None = None
    """Name of an env var holding a credentials JSON, or the path of one."""
    anonymous: bool = False
    """No credentials at all: for emulators and public buckets."""
    endpoint_url: str | None = None
    """Another JSON API endpoint, e.g. http://127.0.0.1:4443 for fake-gcs-server."""

    @field_validator("endpoint_url", "project")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        from zenml_kf.secrets import check_no_userinfo

        if value is None:
            return None
        return check_no_userinfo(value, "credentials_env or credentials_file")


def _import_storage() -> Any:
    """google-cloud-storage, without the Python-version FutureWarning api_core prints on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from google.cloud import storage

    return storage


class GCPArtifactStore(RemoteArtifactStore):
    config: GCPArtifactStoreConfig
    _session: Any = None
    _bucket_seen: bool = False

    def _credentials(self) -> tuple[Any, str]:
        _import_storage()
        import google.auth
        from google.auth.credentials import AnonymousCredentials

        cfg = self.config
        scopes = ["https://www.googleapis.com/auth/devstorage.read_write"]
        if cfg.credentials_env is not None:
            value = read_env_secret(cfg.credentials_env, f"credentials_env of artifact store '{self.name}'")
            if not value.lstrip().startswith("{"):
                return self._from_file(value, scopes)
            try:
                info = json.loads(value)
            except ValueError:
                raise ArtifactStoreError(
                    f"{cfg.credentials_env} holds invalid JSON; put a credentials JSON or the path "
                    "of one in it"
                ) from None
            load = google.auth.load_credentials_from_dict
            creds, project = load(info, scopes=scopes)  # type: ignore[no-untyped-call]
            return creds, cfg.project or project or "-"
        if cfg.credentials_file is not None:
            return self._from_file(
                str((self.root / os.path.expanduser(cfg.credentials_file)).resolve()), scopes
            )
        if cfg.anonymous or cfg.endpoint_url is not None or os.environ.get("STORAGE_EMULATOR_HOST"):
            # Emulators take no credentials; asking ADC would probe the GCE metadata server.
            return AnonymousCredentials(), cfg.project or "-"  # type: ignore[no-untyped-call]
        creds, project = google.auth.default(scopes=scopes)
        return creds, cfg.project or project or "-"

    def _from_file(self, path: str, scopes: list[str]) -> tuple[Any, str]:
        import google.auth

        if not os.path.isfile(path):
            raise ArtifactStoreError(
                f"credentials file {path} of artifact store '{self.name}' does not exist; "
                "create it or fix credentials_file/credentials_env"
            )
        load = google.auth.load_credentials_from_file
        creds, project = load(path, scopes=scopes)  # type: ignore[no-untyped-call]
        return creds, self.config.project or project or "-"

    def _make_client(self) -> Any:
        import requests.adapters
        from google.auth.transport.requests import AuthorizedSession

        storage = _import_storage()
        with self._errors("connect to"):
            credentials, project = self._credentials()
            # One pooled connection per concurrent transfer; requests keeps only 10 otherwise.
            session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
            size = max(10, self.config.max_concurrency * 2)
            for prefix in ("https://", "http://"):
                session.mount(prefix, requests.adapters.HTTPAdapter(pool_connections=size, pool_maxsize=size))
            options = {"api_endpoint": self.config.endpoint_url} if self.config.endpoint_url else None
            self._session = session
            return storage.Client(
                project=project, credentials=credentials, _http=session, client_options=options
            )

    def _retry(self) -> Any:
        storage = _import_storage()
        return storage.retry.DEFAULT_RETRY.with_timeout(self.config.timeout_seconds)

    def _blob(self, key: str) -> Any:
        return self.client().bucket(self.bucket_name).blob(key)

    def _upload(self, files: list[tuple[Path, str]]) -> None:
        retry, timeout = self._retry(), self.config.timeout_seconds

        def one(item: tuple[Path, str]) -> None:
            path, key = item
            with self._errors("upload to", key):
                blob = self._blob(key)
                size = path.stat().st_size
                if size <= self.chunk_bytes:
                    blob.upload_from_filename(str(path), retry=retry, timeout=timeout)
                    return
                url = blob.create_resumable_upload_session(
                    size=size, content_type="application/octet-stream", timeout=timeout
                )
                self.client()  # the session below is made with the client
                stream_upload(self._session, url, path, f"gs://{self.bucket_name}/{key}", timeout)

        run_concurrently(one, files, self.config.max_concurrency)

    def _download(self, items: list[tuple[str, Path]]) -> None:
        retry, timeout = self._retry(), self.config.timeout_seconds

        def one(item: tuple[str, Path]) -> None:
            key, dest = item
            with self._errors("download from", key):
                self._blob(key).download_to_filename(str(dest), retry=retry, timeout=timeout)

        run_concurrently(one, items, self.config.max_concurrency)

    def _get(self, key: str) -> bytes | None:
        try:
            with self._errors("read from", key, missing=_NotFound):
                data: bytes = self._blob(key).download_as_bytes(
                    retry=self._retry(), timeout=self.config.timeout_seconds
                )
                return data
        except _NotFound:
            return None

    def _put_if_absent(self, key: str, body: bytes) -> bool:
        from google.api_core import exceptions

        try:
            with self._errors("write to", key, passthrough=(exceptions.PreconditionFailed,)):
                self._blob(key).upload_from_string(
                    body,
                    content_type="application/json",
                    if_generation_match=0,
                    retry=self._retry(),
                    timeout=self.config.timeout_seconds,
                )
        except exceptions.PreconditionFailed:
            return False
        return True

    def _delete(self, keys: list[str]) -> None:
        from google.api_core import exceptions

        bucket = self.client().bucket(self.bucket_name)
        for key in keys:
            with suppress(exceptions.NotFound):
                bucket.blob(key).delete(timeout=self.config.timeout_seconds)

    def _list(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        """Every object under `prefix`. Unfinished resumable uploads are no objects, nor billed."""
        with self._errors("list"):
            blobs = self.client().list_blobs(
                self.bucket_name, prefix=prefix, timeout=self.config.timeout_seconds
            )
            for blob in blobs:
                yield blob.name, int(blob.size or 0), blob.updated.timestamp() if blob.updated else 0.0

    def _bucket_exists(self) -> bool:
        """Whether the bucket exists; once seen, remembered. Unknown (an error) counts as yes."""
        if self._bucket_seen:
            return True
        try:
            self._bucket_seen = bool(
                self.client().bucket(self.bucket_name).exists(timeout=self.config.timeout_seconds)
            )
        except Exception:
            return True
        return self._bucket_seen

    @contextmanager
    def _errors(
        self,
        action: str,
        key: str = "",
        passthrough: tuple[type[BaseException], ...] = (),
        missing: type[Exception] | None = None,
    ) -> Iterator[None]:
        """Turn SDK errors into one-line ArtifactStoreErrors that say what to fix.

        A missing object raises `missing` when given (the caller expects it may be absent).
        """
        _import_storage()  # first, so api_core's import-time FutureWarning stays quiet
        import google.auth.exceptions as auth_errors
        import requests
        from google.api_core import exceptions

        where = f"gs://{self.bucket_name}/{key}" if key else self.root_uri
        try:
            yield
        except passthrough:
            raise
        except auth_errors.DefaultCredentialsError:
            raise ArtifactStoreError(
                f"no Google Cloud credentials for artifact store '{self.name}' ({self.root_uri}); "
                "set GOOGLE_APPLICATION_CREDENTIALS or run 'gcloud auth application-default "
                "login', or register the store with --credentials-file / --credentials-env"
            ) from None
        except auth_errors.GoogleAuthError as exc:
            raise ArtifactStoreError(
                f"Google Cloud credentials of artifact store '{self.name}' were refused "
                f"({first_line(exc)}); renew them or fix credentials_file/credentials_env"
            ) from None
        except exceptions.NotFound:
            # A 404 names the object's URL, bucket included: ask the bucket itself.
            bucket_missing = not self._bucket_exists()
            if missing is not None and not bucket_missing:
                raise missing() from None
            if bucket_missing:
                raise ArtifactStoreError(
                    f"cannot {action} {where}: bucket '{self.bucket_name}' does not exist; "
                    "create it (gcloud storage buckets create gs://BUCKET) or fix the store's path"
                ) from None
            raise ArtifactStoreError(
                f"object {where} does not exist; it was deleted after being recorded, re-run the "
                "pipeline to produce the artifact again"
            ) from None
        except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
            raise ArtifactStoreError(
                f"access denied to {where} ({first_line(exc)}); grant the credentials "
                "roles/storage.objectAdmin on the bucket or use other credentials"
            ) from None
        except exceptions.RetryError as exc:
            cause = exc.cause if exc.cause is not None else exc
            raise ArtifactStoreError(
                f"cannot {action} {where}: gave up after {self.config.timeout_seconds:g}s "
                f"({first_line(cause)}); check the network or endpoint_url, or raise "
                "timeout_seconds"
            ) from None
        except (exceptions.GoogleAPICallError, requests.exceptions.RequestException) as exc:
            endpoint = self.config.endpoint_url or "storage.googleapis.com"
            raise ArtifactStoreError(
                f"cannot {action} {where} ({type(exc).__name__}: {first_line(exc)}); "
                f"check the endpoint ({endpoint}) and the bucket"
            ) from None


class _NotFound(Exception):
    """An object (not a bucket) is missing; `_get` turns it into None."""
