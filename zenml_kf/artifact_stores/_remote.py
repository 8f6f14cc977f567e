"""What the bucket-backed artifact stores share: locations, staging and the completion marker.

Objects in a bucket appear one at a time, so a folder of files can be half there after a
crash. An artifact therefore counts as written only once its marker object
`<uri>/~zenml-artifact.json` exists. The marker is uploaded last, with a "must not exist"
precondition, and lists every file with its size; `exists()` and `reading()` trust the
marker alone, while the cache asks `is_complete()`, which also checks every listed object
and its size in one listing under the artifact. A step killed mid-upload leaves objects
that no reader takes for an artifact, and a published artifact is never overwritten.

Flavors (gcp, s3) only move bytes: they implement the five primitives at the bottom of
`RemoteArtifactStore`, each free to import its SDK when first called.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, TypeVar

from pydantic import Field, model_validator

from zenml_kf.artifact_stores.base import BaseArtifactStore
from zenml_kf.artifact_stores.manifest import (
    LEGACY_MARKER,
    MARKER,
    listed_files,
    manifest_bytes,
    staged_files,
)
from zenml_kf.exceptions import ZenMLKFError
from zenml_kf.log import get_logger
from zenml_kf.stack.component import ArtifactStoreConfig

logger = get_logger(__name__)

MiB = 1024 * 1024

T = TypeVar("T")


class ArtifactStoreError(ZenMLKFError):
    """A bucket cannot be reached, is missing, denies access, or holds no complete artifact."""


class RemoteArtifactStoreConfig(ArtifactStoreConfig):
    """Where the artifacts go (`path`, or `bucket` + `prefix`) and how hard to push bytes."""

    SCHEME: ClassVar[str] = ""

    path: str | None = None
    """Root of the store as a URI, e.g. gs://bucket/prefix or s3://bucket/prefix."""
    bucket: str | None = None
    """Bucket name, as an alternative to `path`."""
    prefix: str = ""
    """Key prefix inside `bucket` (with `bucket` only)."""
    max_concurrency: int = Field(default=8, ge=1, le=64)
    """Files (or parts of one large file) moved at once."""
    chunk_size_mb: int = Field(default=16, ge=5, le=1024)
    """Part size of multipart/resumable transfers: memory per stream stays near this."""
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    """Per-request timeout; retries of one request give up after about twice this."""

    @model_validator(mode="after")
    def _one_location(self) -> RemoteArtifactStoreConfig:
        self.location()
        return self

    def root_uri(self) -> str:
        """`<scheme>://<bucket>[/<prefix>]`: where this store's artifacts live."""
        bucket, prefix = self.location()
        base = f"{self.SCHEME}://{bucket}"
        return f"{base}/{prefix}" if prefix else base

    def location(self) -> tuple[str, str]:
        """(bucket, prefix) from `path` or `bucket`/`prefix`; prefix has no outer slashes."""
        scheme = f"{self.SCHEME}://"
        if self.path is not None:
            if self.bucket is not None or self.prefix:
                raise ValueError("give either path or bucket (+ prefix), not both")
            if not self.path.startswith(scheme):
                raise ValueError(f"path must start with {scheme} (e.g. {scheme}my-bucket/zenml)")
            bucket, _, prefix = self.path[len(scheme) :].partition("/")
        elif self.bucket is not None:
            bucket, prefix = self.bucket, self.prefix
        else:
            raise ValueError(f"set path ({scheme}BUCKET/PREFIX) or bucket")
        prefix = prefix.strip("/")
        if not bucket or "/" in bucket or ":" in bucket:
            raise ValueError(f"'{bucket}' is not a bucket name")
        return bucket, prefix


class RemoteArtifactStore(BaseArtifactStore):
    """Artifacts as folders of objects under `<scheme>://<bucket>/<prefix>`."""

    config: RemoteArtifactStoreConfig

    def __init__(self, name: str, flavor: str, config: Any, root: Path) -> None:
        super().__init__(name, flavor, config, root)
        self.bucket_name, self.prefix = config.location()
        self._lock = threading.Lock()
        self._client_cache: Any = None

    @property
    def root_uri(self) -> str:
        return self.config.root_uri()

    @property
    def chunk_bytes(self) -> int:
        return int(self.config.chunk_size_mb) * MiB

    def client(self) -> Any:
        """The SDK client, created once per store on first use (thread-safe)."""
        with self._lock:
            if self._client_cache is None:
                self._client_cache = self._make_client()
            return self._client_cache

    def canonical_uri(self, uri: str) -> str:
        """`uri` in this store's own scheme; a flavor that also reads another scheme maps it here."""
        return uri

    def key_of(self, uri: str) -> str:
        """The object key prefix of an artifact URI in this store's bucket."""
        uri = self.canonical_uri(uri)
        scheme = f"{self.config.SCHEME}://"
        bucket, _, key = uri[len(scheme) :].partition("/") if uri.startswith(scheme) else ("", "", "")
        key = key.strip("/")
        if bucket != self.bucket_name or not key:
            raise ArtifactStoreError(
                f"artifact '{uri}' is not in {self.root_uri} (artifact store '{self.name}'); "
                "read it through a stack whose artifact store points at its bucket"
            )
        return key

    # --- the contract -------------------------------------------------------------------

    def exists(self, uri: str) -> bool:
        """False for URIs outside this store: a shared MLMD may record other stacks' artifacts."""
        if not self.holds(uri):
            return False
        return self._marker(self.key_of(uri)) is not None

    def holds(self, uri: str) -> bool:
        """Whether `uri` is under this store's root (so this store can read it)."""
        uri = self.canonical_uri(uri)
        root = self.root_uri.rstrip("/") + "/"
        return uri.startswith(root) and len(uri) > len(root)

    def is_complete(self, uri: str) -> bool:
        """In this store, marked, and every listed object there with its size: a cache hit.

        Two requests whatever the size: the marker, and one listing under the artifact's
        prefix (paged by the server for very many files); no data object is read.
        """
        if not self.holds(uri):
            return False
        key = self.key_of(uri)
        raw = self._marker(key)
        files = listed_files(raw) if raw is not None else None
        if files is None:
            return False
        found = self._list_sizes(f"{key}/")
        return all(found.get(f"{key}/{rel}") == size for rel, size in files.items())

    def _list_sizes(self, prefix: str) -> dict[str, int]:
        """Every object whose key starts with `prefix`, with its size in bytes (one listing)."""
        return {key: size for key, size, _ in self._list(prefix)}

    @contextmanager
    def reading(self, uri: str) -> Iterator[Path]:
        key = self.key_of(uri)
        files = self._manifest(uri, key)
        folder = Path(tempfile.mkdtemp(prefix="zenml-kf-in-"))
        try:
            items = [(f"{key}/{rel}", folder / rel) for rel in files]
            for _, dest in items:
                dest.parent.mkdir(parents=True, exist_ok=True)
            self._download(items)
            for rel, size in files.items():
                got = (folder / rel).stat().st_size
                if got != size:
                    raise ArtifactStoreError(
                        f"file '{rel}' of artifact '{uri}' has {got} bytes but was written with "
                        f"{size}; the object was changed after publishing, re-run the pipeline"
                    )
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def writing(self, uri: str) -> Iterator[Path]:
        key = self.key_of(uri)
        if self._marker(key) is not None:
            raise ArtifactStoreError(f"artifact '{uri}' already exists; artifacts are never overwritten")
        staging = Path(tempfile.mkdtemp(prefix="zenml-kf-out-"))
        try:
            yield staging
            self._publish(uri, key, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def remove(self, uri: str) -> None:
        """The marker objects first (the artifact is gone for readers), then every other object."""
        key = self.key_of(uri)
        objects = [k for k, _, _ in self._list(f"{key}/")]
        markers = [f"{key}/{MARKER}", f"{key}/{LEGACY_MARKER}"]
        self._delete([k for k in objects if k in markers])
        self._delete([k for k in objects if k not in markers])

    def _publish(self, uri: str, key: str, staging: Path) -> None:
        """Upload every staged file, then the marker; on failure remove what was uploaded."""
        files = staged_files(staging, uri)
        uploads = [(path, f"{key}/{rel}") for rel, path in files.items()]
        try:
            self._upload(uploads)
        except BaseException:
            self._cleanup([k for _, k in uploads])
            raise
        if not self._put_if_absent(f"{key}/{MARKER}", manifest_bytes(files)):
            raise ArtifactStoreError(
                f"artifact '{uri}' was published by another writer at the same time; "
                "artifacts are never overwritten"
            )

    def _marker(self, key: str) -> bytes | None:
        """The marker's content, under its current name or the one earlier versions wrote."""
        raw = self._get(f"{key}/{MARKER}")
        return raw if raw is not None else self._get(f"{key}/{LEGACY_MARKER}")

    def _manifest(self, uri: str, key: str) -> dict[str, int]:
        raw = self._marker(key)
        if raw is None:
            raise ArtifactStoreError(
                f"artifact '{uri}' is missing or incomplete (no {MARKER}): it was deleted, or "
                "the step writing it stopped mid-upload; re-run the pipeline to produce it again"
            )
        try:
            manifest = json.loads(raw)
            files = {str(rel): int(size) for rel, size in manifest["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ArtifactStoreError(
                f"the marker of artifact '{uri}' is unreadable; it was not written by zenml-kf, "
                "re-run the pipeline to produce the artifact again"
            ) from None
        for rel in files:
            pure = PurePosixPath(rel)
            if pure.is_absolute() or ".." in pure.parts or not rel:
                raise ArtifactStoreError(f"the marker of artifact '{uri}' lists unsafe path '{rel}'")
        return files

    def _cleanup(self, keys: list[str]) -> None:
        """Best effort: a failed cleanup leaves unmarked objects, which readers ignore anyway."""
        try:
            self._delete(keys)
        except Exception as exc:
            logger.warning("could not remove partial upload from %s: %s", self.root_uri, exc)

    # --- leftovers of killed writers (`zenml clean`) ---------------------------------------

    def list_objects(self) -> list[tuple[str, int, float]]:
        """(key, size, modified epoch seconds) of every object under the store's prefix."""
        return list(self._list(f"{self.prefix}/" if self.prefix else ""))

    def delete_objects(self, keys: list[str]) -> None:
        self._delete(keys)

    def stale_uploads(self) -> list[tuple[str, str, float, int]]:
        """Unfinished multipart uploads under the prefix: (key, upload id, started, bytes)."""
        return []

    def abort_upload(self, key: str, upload_id: str) -> None:
        raise NotImplementedError

    def _list(self, prefix: str) -> Iterator[tuple[str, int, float]]:
        raise NotImplementedError

    # --- primitives each flavor implements ------------------------------------------------

    def _make_client(self) -> Any:
        raise NotImplementedError

    def _upload(self, files: list[tuple[Path, str]]) -> None:
        """Upload local files to keys, concurrently; large files in bounded-memory parts."""
        raise NotImplementedError

    def _download(self, items: list[tuple[str, Path]]) -> None:
        """Download keys to local files (parent folders exist), concurrently."""
        raise NotImplementedError

    def _get(self, key: str) -> bytes | None:
        """A small object's content, or None when it does not exist."""
        raise NotImplementedError

    def _put_if_absent(self, key: str, body: bytes) -> bool:
        """Create a small object unless it exists; False when it already did."""
        raise NotImplementedError

    def _delete(self, keys: list[str]) -> None:
        raise NotImplementedError


def run_concurrently(fn: Callable[[T], object], items: Iterable[T], workers: int) -> None:
    """Apply `fn` to every item on up to `workers` threads; the first error cancels the rest."""
    todo = list(items)
    if len(todo) <= 1 or workers <= 1:
        for item in todo:
            fn(item)
        return
    with ThreadPoolExecutor(min(workers, len(todo)), thread_name_prefix="zenml-io") as pool:
        futures = [pool.submit(fn, item) for item in todo]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()  # no-op for finished or running ones
        for future in futures:
            if not future.cancelled():
                future.result()  # waits for running ones; raises the first error in order
