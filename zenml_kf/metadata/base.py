"""The metadata store component: an ML Metadata store, opened on first use.

The first connections to an empty store race to create MLMD's tables, and MLMD creates
them one statement at a time: a connection that comes in between finds some tables and
not others, and MLMD refuses it ("This may be due to concurrent connection to the empty
database. Please retry the connection."). Opening retries that for a bounded time; the
tables are complete a moment later. Runs starting together on a fresh project (a CI
job, a sweep) meet this on sqlite as well as on MySQL.
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
        """Open the store, waiting while a concurrent first connection creates its tables."""
        deadline = time.monotonic() + SCHEMA_RACE_SECONDS
        while True:
            try:
                return self._open()
            except SchemaRace as race:
                if time.monotonic() > deadline:
                    raise MetadataStoreError(
                        f"the metadata store at {self.address} was still being created by another "
                        f"process after {SCHEMA_RACE_SECONDS:g}s; try again, or "
                        f"{self.half_made_hint()}"
                    ) from race.__cause__
                time.sleep(random.uniform(0.05, 0.3))

    def _open(self) -> MetadataStore:
        """One attempt: the store, SchemaRace, or a MetadataStoreError saying why not."""
        defer_import("grpc")  # ml_metadata imports it for its gRPC client only
        from ml_metadata import errors
        from ml_metadata.metadata_store import metadata_store

        try:
            return metadata_store.MetadataStore(self.connection_config())
        except (errors.StatusError, RuntimeError, OSError) as exc:
            if is_schema_race(str(exc)):
                raise SchemaRace() from exc
            reason = first_line(exc)
            raise MetadataStoreError(
                f"cannot open the metadata store at {self.address} ({reason}); {self.unreachable_hint()}"
            ) from exc


SCHEMA_RACE_SECONDS = 30.0
"""How long opening waits for a concurrent first connection to finish MLMD's tables."""


class SchemaRace(Exception):
    """MLMD found the schema half-created by a concurrent first connection."""


def is_schema_race(message: str) -> bool:
    """Whether MLMD refused to open because another connection is creating the tables."""
    return "concurrent connection" in message


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
