"""MLMD in a sqlite file: the zero-set-up default, under `.zen/local_stores/`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zenml_kf.metadata.base import BaseMetadataStore
from zenml_kf.stack.component import MetadataStoreConfig

DEFAULT_FILE = "metadata.db"


class SQLiteMetadataStoreConfig(MetadataStoreConfig):
    uri: str | None = None
    """Path of the sqlite file; relative paths are relative to the repository root."""


class SQLiteMetadataStore(BaseMetadataStore):
    config: SQLiteMetadataStoreConfig

    @property
    def path(self) -> Path:
        if self.config.uri is None:
            return self.root / ".zen" / "local_stores" / DEFAULT_FILE
        return (self.root / os.path.expanduser(self.config.uri)).resolve()

    @property
    def address(self) -> str:
        return str(self.path)

    def unreachable_hint(self) -> str:
        return f"make sure {self.path.parent} exists and is writable"

    def missing(self) -> str | None:
        if self.path.exists():
            return None
        blocked = any(p.exists() and not p.is_dir() for p in self.path.parents)
        if blocked:  # a file where a folder should be: opening says so, with the path
            return None
        return f"{self.path} does not exist: nothing has run on this stack yet, or the file was deleted"

    def connection_config(self) -> Any:
        from ml_metadata.proto import metadata_store_pb2

        self.path.parent.mkdir(parents=True, exist_ok=True)
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(self.path)
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        return config
