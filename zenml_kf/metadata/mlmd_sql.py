"""SQL transactions on the database behind an ML Metadata store: the sqlite file or MySQL.

For what MLMD's API cannot do (delete records, see `deletion`). Only the stores whose
database this process reaches qualify; one transaction is retried when MySQL aborts it for
a concurrent writer (deadlock, lock wait), and a sqlite one runs in a child process (see
`in_transaction`). Statements are written with `?` placeholders
and backquoted names, which both databases accept once `?` becomes the driver's mark.
PyMySQL (pure Python) is imported only here, when a MySQL store is written to.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from zenml_kf.exceptions import MetadataStoreError, ZenMLKFError, first_line
from zenml_kf.log import get_logger

if TYPE_CHECKING:
    from zenml_kf.metadata.base import BaseMetadataStore

logger = get_logger(__name__)

CHUNK = 500
"""Ids per IN (...) list, well under every server's limit on placeholders."""

T = TypeVar("T")


class _Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchall(self) -> Any: ...


class Transaction:
    """One open transaction: statements written with `?`, run in chunks over id lists."""

    def __init__(self, cursor: _Cursor, placeholder: str) -> None:
        self._cursor = cursor
        self._placeholder = placeholder

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql.replace("?", self._placeholder), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def rows_in(self, sql: str, ids: Collection[Any], params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`sql` holding one `({ids})`, run for each chunk of `ids`; `params` come first."""
        found: list[tuple[Any, ...]] = []
        for chunk in chunks(sorted(ids)):
            marks = ", ".join("?" * len(chunk))
            found += self.rows(sql.format(ids=marks), [*params, *chunk])
        return found

    def delete_in(self, table: str, column: str, ids: Collection[int]) -> None:
        """Delete the rows of `table` whose `column` is one of `ids`."""
        for chunk in chunks(sorted(ids)):
            marks = ", ".join("?" * len(chunk))
            self._cursor.execute(
                f"DELETE FROM `{table}` WHERE `{column}` IN ({marks})".replace("?", self._placeholder),
                tuple(chunk),
            )


def chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class Database:
    """A way to run one transaction against a store's database, and to name it in errors."""

    def __init__(self, address: str, attempts: int = 1) -> None:
        self.address = address
        self.attempts = attempts

    def transaction(self) -> Any:
        raise NotImplementedError

    def is_conflict(self, exc: BaseException) -> bool:
        """Whether `exc` aborted the transaction for a concurrent writer (worth a retry)."""
        return False

    def errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError


class SQLiteDatabase(Database):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path

    def errors(self) -> tuple[type[BaseException], ...]:
        import sqlite3

        return (sqlite3.Error,)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        import sqlite3

        # isolation_level=None: transactions are ours; IMMEDIATE takes the write lock up
        # front, so no run can write between what is read and what is deleted.
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(conn.cursor(), "?")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()


class MySQLDatabase(Database):
    def __init__(self, store: Any) -> None:
        super().__init__(store.address, attempts=int(store.config.max_retries))
        self.store = store

    def errors(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (pymysql.Error,)

    def is_conflict(self, exc: BaseException) -> bool:
        code = exc.args[0] if exc.args else None
        return code in (1205, 1213)  # lock wait timeout, deadlock

    def _connect(self) -> Any:
        import pymysql

        cfg = self.store.config
        root = self.store.root
        ssl: dict[str, Any] = {}
        for key, value in (
            ("ca", cfg.ssl_ca),
            ("capath", cfg.ssl_capath),
            ("cert", cfg.ssl_cert),
            ("key", cfg.ssl_key),
        ):
            if value is not None:
                ssl[key] = str(root / os.path.expanduser(value))
        if cfg.ssl_cipher is not None:
            ssl["cipher"] = cfg.ssl_cipher
        if ssl:  # as MLMD: the server's certificate is checked against the CA; its name on request
            ssl["check_hostname"] = bool(cfg.ssl_verify_server_cert)
        return pymysql.connect(
            host=cfg.host,
            port=cfg.port,
            user=cfg.user,
            password=self.store._password(),
            database=cfg.database,
            connect_timeout=cfg.connect_timeout_seconds,
            ssl=ssl or None,
            autocommit=False,
        )

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                # SERIALIZABLE turns the reads into shared locks: a run writing an event on
                # one of these artifacts waits for the delete, or the delete for it.
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                conn.begin()
                try:
                    yield Transaction(cursor, "%s")
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
        finally:
            conn.close()


def open_database(metadata_store: BaseMetadataStore) -> Database | None:
    """The database behind `metadata_store`, or None when this process cannot reach it (gRPC)."""
    from zenml_kf.metadata.mysql import MySQLMetadataStore
    from zenml_kf.metadata.sqlite import SQLiteMetadataStore

    if isinstance(metadata_store, SQLiteMetadataStore):
        return SQLiteDatabase(str(metadata_store.path))
    if isinstance(metadata_store, MySQLMetadataStore):
        return MySQLDatabase(metadata_store)
    return None


Work = Callable[[Transaction, Any], Any]
"""A module-level function of a transaction and a JSON value, returning a JSON value."""


def in_transaction(db: Database, work: Work, arg: Any, action: str) -> Any:
    """`work(tx, arg)` in one transaction, retried when a concurrent writer aborted it; a
    database error is one line saying that nothing changed. `action` says what failed
    ("delete runs").

    On sqlite the transaction runs in a child process: this process may hold MLMD's own
    connection to the file, through the copy of sqlite linked into ml-metadata, and two
    sqlite libraries in one process corrupt a WAL database (each drops the other's POSIX
    locks and may checkpoint and remove the WAL under it: "Multiple copies of SQLite
    linked into the same application", sqlite.org/howtocorrupt.html). The child loads no
    ml-metadata, so `work` and its argument and result cross as JSON.
    """
    if isinstance(db, SQLiteDatabase):
        return _in_child(db, work, arg, action)
    return run_transaction(db, work, arg, action)


def run_transaction(db: Database, work: Work, arg: Any, action: str) -> Any:
    """`in_transaction` in this process."""
    for attempt in range(1, db.attempts + 1):
        try:
            with db.transaction() as tx:
                return work(tx, arg)
        except db.errors() as exc:
            if attempt < db.attempts and db.is_conflict(exc):
                logger.debug("%s in %s met a concurrent writer; retrying", action, db.address)
                time.sleep(0.1 * attempt)
                continue
            raise MetadataStoreError(
                f"cannot {action} in the metadata store at {db.address} ({first_line(exc)}); "
                "nothing was changed"
            ) from exc
    raise AssertionError("unreachable")  # the last attempt returns or raises


CHILD_TIMEOUT_SECONDS = 600.0


def _in_child(db: SQLiteDatabase, work: Work, arg: Any, action: str) -> Any:
    request = {
        "path": db.path,
        "work": f"{work.__module__}:{work.__qualname__}",
        "arg": arg,
        "action": action,
    }
    # The child imports this package from where this process did, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", __name__],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT_SECONDS,
        )
        reply = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise MetadataStoreError(
            f"cannot {action} in the metadata store at {db.address} (its worker process failed: "
            f"{first_line(exc)}); check the runs with 'zenml runs list'"
        ) from exc
    if not isinstance(reply, dict):
        lines = proc.stderr.strip().splitlines()
        raise MetadataStoreError(
            f"cannot {action} in the metadata store at {db.address} (its worker process failed: "
            f"{lines[-1] if lines else f'exit {proc.returncode}'}); check the runs with 'zenml runs list'"
        )
    if "error" in reply:
        raise _error_class(str(reply.get("type", "")))(str(reply["error"]))
    return reply.get("result")


def _error_class(name: str) -> type[ZenMLKFError]:
    """The error class a child reported, by `module:qualname`; a plain store error otherwise."""
    module, _, qualname = name.partition(":")
    if module.startswith("zenml_kf."):
        found = getattr(importlib.import_module(module), qualname, None)
        if isinstance(found, type) and issubclass(found, ZenMLKFError):
            return found
    return MetadataStoreError


def _child_main() -> None:
    """The child's side of `_in_child`: one request on stdin, one reply on stdout."""
    request = json.loads(sys.stdin.read())
    module, _, qualname = str(request["work"]).partition(":")
    work = getattr(importlib.import_module(module), qualname)
    db = SQLiteDatabase(str(request["path"]))
    try:
        reply = {"result": run_transaction(db, work, request["arg"], str(request["action"]))}
    except ZenMLKFError as exc:
        reply = {"error": str(exc), "type": f"{type(exc).__module__}:{type(exc).__qualname__}"}
    sys.stdout.write(json.dumps(reply))


if __name__ == "__main__":
    _child_main()
