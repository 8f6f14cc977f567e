"""A folder on this machine; by default `.zen/local_stores/artifacts` in the repository.

An artifact is written into a staging folder next to its URI; the completion marker
(`~zenml-artifact.json`, the manifest the bucket stores write too) goes into that folder
last, and the folder is then renamed into place, so a published artifact always has one.

`exists()` is the cache's check: the URI is under this store's root, the marker is there,
and every file it lists exists with its recorded size (a stat per file, no reads). So a
file deleted or truncated after publishing makes the step run again instead of being
served from the cache. Artifacts written before markers existed (a folder without one)
are not reused from the cache, since nothing says they are whole; they still read with
`.read()`, as `reading()` asks only for the folder.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zenml_kf.artifact_stores.base import BaseArtifactStore
from zenml_kf.artifact_stores.manifest import LEGACY_MARKER, MARKER, listed_files, write_marker
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

    def holds(self, uri: str) -> bool:
        """Whether `uri` is a path strictly under this store's root (symlinks resolved)."""
        if not os.path.isabs(uri):
            return False  # another flavor's URI (s3://, gs://...) or not a path at all
        root = os.path.realpath(self.root_uri)
        path = os.path.realpath(uri)
        return path != root and path.startswith(root.rstrip(os.sep) + os.sep)

    def exists(self, uri: str) -> bool:
        """Whether a whole artifact is at `uri` in this store; False for a folder without a marker."""
        if not self.holds(uri):
            return False
        folder = Path(uri)
        files = None
        for name in (MARKER, LEGACY_MARKER):
            try:
                files = listed_files((folder / name).read_bytes())
                break
            except FileNotFoundError:
                continue
            except OSError:
                return False
        if files is None:
            return False
        for rel, size in files.items():
            try:
                info = os.stat(folder / rel)
            except OSError:
                return False
            if not stat.S_ISREG(info.st_mode) or info.st_size != size:
                return False
        return True

    def is_complete(self, uri: str) -> bool:
        return self.exists(uri)

    @contextmanager
    def reading(self, uri: str) -> Iterator[Path]:
        path = Path(uri)
        if not path.is_dir():
            raise ZenMLKFError(
                f"artifact '{uri}' is missing from the local artifact store; it was deleted "
                "after being recorded, so re-run the pipeline to produce it again"
            )
        yield path

    def remove(self, uri: str) -> None:
        """Rename the folder to a staging name `zenml clean` knows, then delete it; empty
        step and run folders above it go too."""
        if not self.holds(uri):
            raise ZenMLKFError(f"artifact '{uri}' is not in the artifact store at {self.root_uri}")
        final = Path(uri)
        if not final.exists():
            return
        doomed = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
        os.rename(final, doomed)
        shutil.rmtree(doomed)
        root = Path(os.path.realpath(self.root_uri))
        parent = Path(os.path.realpath(final.parent))
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break
            parent = parent.parent

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
            write_marker(staging, uri)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
