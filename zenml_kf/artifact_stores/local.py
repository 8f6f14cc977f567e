"""A folder on this machine; by default `.zen/local_stores/artifacts` in the repository."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zenml_kf.artifact_stores.base import BaseArtifactStore
from zenml_kf.exceptions import ZenMLKFError
from zenml_kf.stack.component import ArtifactStoreConfig

DEFAULT_SUBDIR = "artifacts"


class LocalArtifactStoreConfig(ArtifactStoreConfig):
    path: str | None = None
    """Folder for artifacts; relative paths are relative to the repository root."""


class LocalArtifactStore(BaseArtifactStore):
    config: LocalArtifactStoreConfig

    @property
    def root_uri(self) -> str:
        if self.config.path is None:
            return str(self.root / ".zen" / "local_stores" / DEFAULT_SUBDIR)
        return str((self.root / os.path.expanduser(self.config.path)).resolve())

    def exists(self, uri: str) -> bool:
        return os.path.isdir(uri)

    @contextmanager
    def reading(self, uri: str) -> Iterator[Path]:
        path = Path(uri)
        if not path.is_dir():
            raise ZenMLKFError(
                f"artifact '{uri}' is missing from the local artifact store; it was deleted "
                "after being recorded, so re-run the pipeline to produce it again"
            )
        yield path

    @contextmanager
    def writing(self, uri: str) -> Iterator[Path]:
        final = Path(uri)
        if final.exists():
            raise ZenMLKFError(f"artifact '{uri}' already exists; artifacts are never overwritten")
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            yield staging
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
