"""The artifact store contract: materializers read and write local folders, stores move bytes.

An artifact is a folder at a URI under the store's root, laid out as KFP lays out its
pipeline root (`<root>/<pipeline>/<run>/<step>/<output>`). Writers get a staging folder
that becomes visible at the URI only when the write finished, so no reader ever sees a
half-written artifact, and an existing URI is never overwritten.

Every published artifact carries a completion marker listing its files and their sizes
(`manifest.py`). The cache reuses an artifact only when `is_complete()` says so: the URI
is in this store (`holds()`; a metadata store shared between stacks records other stores'
artifacts too) and every listed file is there with its size.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import ClassVar

from zenml_kf.stack.component import StackComponent
from zenml_kf.stack.types import ComponentType


class BaseArtifactStore(StackComponent):
    TYPE: ClassVar[ComponentType] = ComponentType.ARTIFACT_STORE

    @property
    def root_uri(self) -> str:
        raise NotImplementedError

    def artifact_uri(self, pipeline: str, run_id: str, step: str, output: str) -> str:
        return "/".join((self.root_uri.rstrip("/"), pipeline, run_id, step, output))

    def holds(self, uri: str) -> bool:
        """Whether `uri` is under this store's root (so this store can read it)."""
        raise NotImplementedError

    def exists(self, uri: str) -> bool:
        """Whether a published artifact is at `uri` in this store (its marker is there)."""
        raise NotImplementedError

    def is_complete(self, uri: str) -> bool:
        """Whether `uri` is a whole artifact of this store: what a cache hit requires.

        In this store, marked, and every file the marker lists present with its recorded
        size, checked without reading any file's content.
        """
        return self.holds(uri) and self.exists(uri)

    def reading(self, uri: str) -> AbstractContextManager[Path]:
        """A local folder holding the artifact's files for the duration of the block."""
        raise NotImplementedError

    def writing(self, uri: str) -> AbstractContextManager[Path]:
        """A local folder to fill; published at `uri` only if the block exits cleanly."""
        raise NotImplementedError

    def remove(self, uri: str) -> None:
        """Delete the artifact at `uri` (in this store), its marker first; gone already is fine.

        Once the marker is gone no reader or cache takes what is left for an artifact, so a
        removal cut short leaves only what `zenml clean` removes.
        """
        raise NotImplementedError
