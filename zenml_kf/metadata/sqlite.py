"""MLMD in a sqlite file: the zero-set-up default, under `.zen/local_stores/`.

The file is kept in write-ahead-log mode. MLMD commits every call as its own
transaction, and in sqlite's default rollback-journal mode each commit writes and
syncs a journal, the database and the journal's deletion (three syncs); with a WAL it
appends to one file and syncs once. A WAL is as safe against a killed process (the next
connection replays or discards the log) and lets readers (`zenml runs list`) go on
while a run writes. MLMD gives no way to set `synchronous`, so commits stay fully
synced (`FULL`): a power cut loses nothing either.

The mode is set with Python's own sqlite library, which is another copy of sqlite than
the one inside MLMD. Two copies in one process must never have the same file open at
once: closing a file drops every POSIX lock the process holds on it, including the
other copy's, and a WAL read without its locks is read corrupt. So the file is only
touched before this process first opens it with MLMD.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zenml_kf.log import get_logger
from zenml_kf.metadata.base import BaseMetadataStore
from zenml_kf.stack.component import MetadataStoreConfig

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore

logger = get_logger(__name__)

DEFAULT_FILE = "metadata.db"
# Bytes 18 and 19 of a sqlite file's header: the read and write format versions, 2 for WAL.
_WAL_HEADER = (18, b"\x02\x02")
_LOCK_WAIT_SECONDS = 2.0
# Files this process has opened with MLMD: no other sqlite copy may open them again.
_OPENED: set[str] = set()


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

    def half_made_hint(self) -> str:
        return f"delete {self.path} if no other run is starting (it holds no runs yet)"

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

    @functools.cached_property
    def store(self) -> MetadataStore:
        path = self.path
        if str(path) not in _OPENED:
            _OPENED.add(str(path))
            # A new file is created by MLMD in rollback mode: processes racing to create
            # MLMD's schema wait for each other there, where a WAL would fail all but one.
            if path.exists() and not uses_wal(path):
                use_wal(path)
        return BaseMetadataStore.store.func(self)  # type: ignore[attr-defined,no-any-return]


def uses_wal(path: Path) -> bool:
    """Whether the file is in WAL mode, read from its header (no sqlite library needed)."""
    offset, marker = _WAL_HEADER
    try:
        with open(path, "rb") as file:
            header = file.read(offset + len(marker))
    except OSError:
        return False
    return header[offset:] == marker


def use_wal(path: Path) -> None:
    """Create the file in WAL mode, or switch an existing one, once: the mode is stored in
    the file itself. Call it only before this process opens the file with MLMD.

    Best effort: the switch needs a moment with no other connection in a transaction, and
    a store left in rollback mode is only slower, so a busy or read-only file stays as it
    is until the next process tries again; a folder that cannot be created is reported
    by MLMD when it opens the file.
    """
    import sqlite3

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    try:
        connection = sqlite3.connect(path, timeout=_LOCK_WAIT_SECONDS, isolation_level=None)
        try:
            [mode] = connection.execute("PRAGMA journal_mode=WAL").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        logger.debug("metadata store %s stays in rollback-journal mode: %s", path, exc)
        return
    if str(mode).lower() != "wal":
        logger.debug("metadata store %s stays in %s mode", path, mode)
