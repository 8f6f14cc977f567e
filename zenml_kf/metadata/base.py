"""The metadata store component: an ML Metadata store, opened on first use."""

from __future__ import annotations

import functools
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

    @functools.cached_property
    def store(self) -> MetadataStore:
        from ml_metadata import errors
        from ml_metadata.metadata_store import metadata_store

        try:
            return metadata_store.MetadataStore(self.connection_config())
        except (errors.StatusError, RuntimeError, OSError) as exc:
            reason = first_line(exc)
            raise MetadataStoreError(
                f"cannot open the metadata store at {self.address} ({reason}); {self.unreachable_hint()}"
            ) from None
