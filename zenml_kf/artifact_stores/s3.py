"""Amazon S3 and S3-compatible servers (MinIO, Ceph...): `s3://bucket/prefix`, through boto3.

Credentials: the AWS chain (env vars, `profile`, ~/.aws, container or instance roles), or
env vars named by `access_key_id_env` / `secret_access_key_env` / `session_token_env`.
Transfers go through boto3's transfer manager: files over `chunk_size_mb` move as
multipart uploads and ranged downloads, parts and files `max_concurrency` at a time, read
straight from and written straight to disk, so memory stays bounded whatever the size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from zenml_kf.artifact_stores._remote import (
    ArtifactStoreError,
    RemoteArtifactStore,
    RemoteArtifactStoreConfig,
)
from zenml_kf.artifact_stores._remote_secrets import EnvVarName, read_env_secret
from zenml_kf.exceptions import first_line

_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "ExpiredToken"}


class S3ArtifactStoreConfig(RemoteArtifactStoreConfig):
    SCHEME: ClassVar[str] = "s3"

    endpoint_url: str | None = None
    """Server of an S3-compatible store, e.g. http://minio.minio:9000; AWS when unset."""
    region: str | None = None
    """Region of the bucket; from the AWS config or AWS_DEFAULT_REGION when unset."""
    path_style: bool = False
    """Address buckets as ENDPOINT/BUCKET (most S3-compatible servers), not BUCKET.ENDPOINT."""
    profile: str | None = None
    """A profile from ~/.aws/config."""
    access_key_id_env: EnvVarName | None = None
    """Name of the env var holding the access key id."""
    secret_access_key_env: EnvVarName | None = None
    """Name of the env var holding the secret access key."""
    session_token_env: EnvVarName | None = None
    """Name of the env var holding a session token (temporary credentials)."""
    verify_tls: bool = True
    """Check the server's TLS certificate."""
    ca_bundle: str | None = None
    """CA bundle file for a server with a private certificate authority."""

    @field_validator("endpoint_url", "profile", "region")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        from zenml_kf.secrets import check_no_userinfo

        if value is None:
            return None
        return check_no_userinfo(value, "access_key_id_env and secret_access_key_env")

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> S3ArtifactStoreConfig:
        if (self.access_key_id_env is None) != (self.secret_access_key_env is None):
            raise ValueError("set access_key_id_env and secret_access_key_env together")
        return self


MINIO_SCHEME = "minio://"


class S3ArtifactStore(RemoteArtifactStore):
    config: S3ArtifactStoreConfig

    def canonical_uri(self, uri: str) -> str:
        """`minio://bucket/key` as `s3://bucket/key` when the store talks to a server of its own.

        KFP's default pipeline root is `minio://mlpipeline/v2/artifacts`, so runs on a
        cluster with its bundled MinIO record artifacts under that scheme. MinIO speaks
        S3, so this store reads them through its `endpoint_url`; without one it would ask
        AWS for a bucket of that name, so the URI is left as it is and is not this store's.
        """
        if uri.startswith(MINIO_SCHEME) and self.config.endpoint_url:
            return "s3://" + uri[len(MINIO_SCHEME) :]
        return uri

    def key_of(self, uri: str) -> str:
        if uri.startswith(MINIO_SCHEME) and not self.config.endpoint_url:
            raise ArtifactStoreError(
                f"artifact '{uri}' is in a KFP cluster's MinIO; set endpoint_url of artifact store "
                f"'{self.name}' to that server (e.g. 'kubectl port-forward -n kubeflow "
                "svc/minio-service 9000:9000' and http://127.0.0.1:9000) and path_style true"
            )
        return super().key_of(uri)

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        cfg = self.config
        keys: dict[str, str] = {}
        if cfg.access_key_id_env and cfg.secret_access_key_env:
            purpose = f"artifact store '{self.name}'"
            keys["aws_access_key_id"] = read_env_secret(cfg.access_key_id_env, purpose)
            keys["aws_secret_access_key"] = read_env_secret(cfg.secret_access_key_env, purpose)
        if cfg.session_token_env:
            keys["aws_session_token"] = read_env_secret(
                cfg.session_token_env, f"artifact store '{self.name}'"
            )
        config = Config(
            s3={"addressing_style": "path" if cfg.path_style else "auto"},
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=min(cfg.timeout_seconds, 10),
            read_timeout=cfg.timeout_seconds,
            max_pool_connections=max(10, cfg.max_concurrency * 2),
        )
        verify: bool | str = cfg.ca_bundle if cfg.ca_bundle else cfg.verify_tls
        with self._errors("connect to"):
            session = boto3.session.Session(profile_name=cfg.profile, **keys)
            return session.client(
                "s3",
                endpoint_url=cfg.endpoint_url,
                region_name=cfg.region,
                verify=verify,
                config=config,
            )

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.chunk_bytes,
            multipart_chunksize=self.chunk_bytes,
            max_concurrency=self.config.max_concurrency,
            # Downloaded parts wait here for the disk writer: 32 x 256 KiB bounds that buffer.
            max_io_queue=32,
            use_threads=True,
        )

    @contextmanager
    def _manager(self) -> Iterator[Any]:
        from boto3.s3.transfer import create_transfer_manager

        manager = create_transfer_manager(self.client(), self._transfer_config())
        try:
            yield manager
        except BaseException:
            manager.shutdown(cancel=True)
            raise
        manager.shutdown()

    def _upload(self, files: list[tuple[Path, str]]) -> None:
        with self._errors("upload to"), self._manager() as manager:
            futures = [manager.upload(str(path), self.bucket_name, key) for path, key in files]
            for future in futures:
                future.result()

    def _download(self, items: list[tuple[str, Path]]) -> None:
        with self._errors("download from"), self._manager() as manager:
            futures = [manager.download(self.bucket_name, key, str(dest)) for key, dest in items]
            for future in futures:
                future.result()

    def _get(self, key: str) -> bytes | None:
        try:
            with self._errors("read from", key, missing=_NotFound):
                response = self.client().get_object(Bucket=self.bucket_name, Key=key)
                data: bytes = response["Body"].read()
                return data
        except _NotFound:
            return None

    def _put_if_absent(self, key: str, body: bytes) -> bool:
        from botocore.exceptions import ClientError

        client = self.client()
        try:
            with self._errors("write to", key, passthrough=(ClientError,)):
                client.put_object(
                    Bucket=self.bucket_name,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            if code not in ("NotImplemented", "501"):
                with self._errors("write to", key):
                    raise
        # The server cannot do conditional writes: check, then write (a small race window).
        if self._get(key) is not None:
            return False
        with self._errors("write to", key):
            client.put_object(Bucket=self.bucket_name, Key=key, Body=body, ContentType="application/json")
        return True

    def _delete(self, keys: list[str]) -> None:
        client = self.client()
        with self._errors("delete from"):
            for start in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                client.delete_objects(Bucket=self.bucket_name, Delete={"Objects": batch, "Quiet": True})

    def _list(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        with self._errors("list"):
            pages = (
                self.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket_name, Prefix=prefix)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"], int(obj["Size"]), obj["LastModified"].timestamp()

    def stale_uploads(self) -> list[tuple[str, str, float, int]]:
        """Multipart uploads a killed writer never completed nor aborted; their parts are billed."""
        client = self.client()
        found = []
        with self._errors("list uploads in"):
            pages = client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket_name, Prefix=f"{self.prefix}/" if self.prefix else ""
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    key, upload_id = upload["Key"], upload["UploadId"]
                    parts = client.get_paginator("list_parts").paginate(
                        Bucket=self.bucket_name, Key=key, UploadId=upload_id
                    )
                    size = sum(int(p["Size"]) for page_ in parts for p in page_.get("Parts", []))
                    found.append((key, upload_id, upload["Initiated"].timestamp(), size))
        return found

    def abort_upload(self, key: str, upload_id: str) -> None:
        with self._errors("abort an upload to", key):
            self.client().abort_multipart_upload(Bucket=self.bucket_name, Key=key, UploadId=upload_id)

    @contextmanager
    def _errors(
        self,
        action: str,
        key: str = "",
        passthrough: tuple[type[BaseException], ...] = (),
        missing: type[Exception] | None = None,
    ) -> Iterator[None]:
        """Turn boto errors into one-line ArtifactStoreErrors that say what to fix.

        A missing object raises `missing` when given (the caller expects it may be absent).
        """
        from boto3.exceptions import S3UploadFailedError
        from botocore import exceptions as bx

        where = f"s3://{self.bucket_name}/{key}" if key else self.root_uri
        endpoint = self.config.endpoint_url or "AWS S3"
        try:
            yield
        except passthrough:
            raise
        except (bx.NoCredentialsError, bx.PartialCredentialsError):
            raise ArtifactStoreError(
                f"no AWS credentials for artifact store '{self.name}' ({self.root_uri}); export "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, set --profile, or name env vars with "
                "--access-key-id-env and --secret-access-key-env"
            ) from None
        except bx.ProfileNotFound:
            raise ArtifactStoreError(
                f"AWS profile '{self.config.profile}' of artifact store '{self.name}' is not in "
                "~/.aws/config; add it or fix --profile"
            ) from None
        except (
            bx.EndpointConnectionError,
            bx.ConnectTimeoutError,
            bx.ConnectionClosedError,
        ) as exc:
            raise ArtifactStoreError(
                f"cannot reach {endpoint} to {action} {where} ({first_line(exc)}); check the "
                "network or the store's endpoint_url"
            ) from None
        except bx.ReadTimeoutError:
            raise ArtifactStoreError(
                f"{endpoint} did not answer within {self.config.timeout_seconds:g}s to {action} "
                f"{where}; raise timeout_seconds or check the server"
            ) from None
        except (bx.ClientError, S3UploadFailedError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, bx.ClientError) else ""
            text = first_line(exc)
            if code == "NoSuchBucket" or "NoSuchBucket" in text:
                raise ArtifactStoreError(
                    f"cannot {action} {where}: bucket '{self.bucket_name}' does not exist at "
                    f"{endpoint}; create it (aws s3 mb s3://BUCKET) or fix the store's path"
                ) from None
            if code in ("NoSuchKey", "404") and missing is not None:
                raise missing() from None
            if code in ("NoSuchKey", "404"):
                raise ArtifactStoreError(
                    f"object {where} does not exist; it was deleted after being recorded, re-run "
                    "the pipeline to produce the artifact again"
                ) from None
            if code in _DENIED or any(c in text for c in _DENIED if not c.isdigit()):
                raise ArtifactStoreError(
                    f"access denied to {where} ({text}); check the credentials of artifact store "
                    f"'{self.name}' and the bucket policy"
                ) from None
            raise ArtifactStoreError(f"cannot {action} {where} at {endpoint} ({text})") from None
        except bx.BotoCoreError as exc:
            raise ArtifactStoreError(
                f"cannot {action} {where} at {endpoint} ({type(exc).__name__}: {first_line(exc)})"
            ) from None


class _NotFound(Exception):
    """An object is missing; `_get` turns it into None."""
