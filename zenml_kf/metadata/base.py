"""The metadata store component: an ML Metadata store, opened on first use.

The first connections to an empty store race to create MLMD's tables, and MLMD creates
them one statement at a time, each first connection in its own transactions. One that
comes in between finds some tables and not others ("This may be due to concurrent
connection to the empty database. Please retry the connection."), or, on sqlite, waits
about two seconds for another's write lock and gives up ("Concurrent writes aborted after
max number of retries."). Opening retries both for a bounded time: the tables are
complete, and the lock free, a moment later. Runs starting together on a fresh project (a
CI job, a sweep) meet this on sqlite as well as on MySQL.
"""

from __future__ import annotations

import functools
import importlib.util
import random
import sys
import threading
import time
import types
from typing import TYPE_CHECKING, Any, ClassVar

from zenml_kf.exceptions import MetadataStoreError, first_line
from zenml_kf.stack.component import StackComponent
from zenml_kf.stack.types import ComponentType

if TYPE_CHECKING:
    from ml_metadata.metadata_store import MetadataStore


class BaseMetadataStore(StackComponent):
    TYPE: ClassVar[ComponentType] = ComponentType.METADATA_STORE

    def connection_config(self) -> Any:
        """An MLMD `ConnectionConfig` or `MetadataStoreClientConfig`."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """Where the store is, for error messages."""
        raise NotImplementedError

    def unreachable_hint(self) -> str:
        return "check the metadata store settings with 'zenml metadata-store describe'"

    def missing(self) -> str | None:
        """Why there is nothing to read (a store that does not exist), or None. Reading must
        not create a store: a deleted one would silently come back empty."""
        return None

    def half_made_hint(self) -> str:
        """What to do when the store's tables stay half-created (a creator that died)."""
        return "remove the half-made store if no other run is starting"

    @functools.cached_property
    def store(self) -> MetadataStore:
        return self.open_store()

    def open_store(self) -> MetadataStore:
        """Open the store, waiting while another connection creates its tables or holds its lock."""
        deadline = time.monotonic() + OPEN_WAIT_SECONDS
        while True:
            try:
                return self._open()
            except StoreBusy as busy:
                if time.monotonic() > deadline:
                    raise MetadataStoreError(self._still_busy(busy)) from busy.__cause__
                time.sleep(random.uniform(0.05, 0.3))

    def _still_busy(self, busy: StoreBusy) -> str:
        waited = f"after {OPEN_WAIT_SECONDS:g}s"
        if busy.half_made:
            return (
                f"the metadata store at {self.address} was still being created by another process "
                f"{waited}; try again, or {self.half_made_hint()}"
            )
        return (
            f"the metadata store at {self.address} stayed locked by another process {waited}; "
            "try again once it is done"
        )

    def _open(self) -> MetadataStore:
        """One attempt: the store, StoreBusy, or a MetadataStoreError saying why not."""
        defer_import("grpc")  # ml_metadata imports it for its gRPC client only
        from ml_metadata import errors
        from ml_metadata.metadata_store import metadata_store

        try:
            return metadata_store.MetadataStore(self.connection_config())
        except (errors.StatusError, RuntimeError, OSError) as exc:
            busy = StoreBusy.of(str(exc))
            if busy is not None:
                raise busy from exc
            reason = first_line(exc)
            raise MetadataStoreError(
                f"cannot open the metadata store at {self.address} ({reason}); {self.unreachable_hint()}"
            ) from exc


OPEN_WAIT_SECONDS = 30.0
"""How long opening waits for other connections creating MLMD's tables or holding a lock."""


class StoreBusy(Exception):
    """MLMD would not open the store for another connection: worth another try."""

    def __init__(self, half_made: bool) -> None:
        super().__init__("half-made" if half_made else "locked")
        self.half_made = half_made
        """The tables were half created (else: another connection held the write lock)."""

    @classmethod
    def of(cls, message: str) -> StoreBusy | None:
        """The StoreBusy MLMD's error message tells of, or None for any other error."""
        if "concurrent connection" in message:
            return cls(half_made=True)
        if "Concurrent writes aborted" in message:  # sqlite's "database is locked", in MLMD's words
            return cls(half_made=False)
        return None


# Attributes the import system reads from a module already in sys.modules; answering them
# must not load a deferred module, or `import grpc` would.
_IMPORT_ATTRIBUTES = frozenset({"__spec__", "__name__", "__loader__", "__package__", "__class__", "__dict__"})


def defer_import(name: str) -> None:
    """Put a module in sys.modules that executes on first use of one of its attributes.

    `ml_metadata` imports `grpc` (with asyncio and ssl, a fifth of its import time) at
    the top of its store module but uses it only when the store is a gRPC server; the
    sqlite and MySQL stores never touch it. The module object stays the one in
    sys.modules, so later importers, and the gRPC store, get the same module, loaded on
    first use; a lock makes threads wait for one load instead of seeing it half done.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)
    lock = threading.RLock()

    class _Deferred(types.ModuleType):
        def __getattribute__(self, attribute: str) -> Any:
            if attribute in _IMPORT_ATTRIBUTES:
                return super().__getattribute__(attribute)
            with lock:
                if type(self) is _Deferred:
                    object.__setattr__(self, "__class__", types.ModuleType)
                    try:
                        loader.exec_module(self)
                    except BaseException:
                        sys.modules.pop(name, None)
                        raise
            return getattr(self, attribute)

    module.__class__ = _Deferred
    sys.modules[name] = module
