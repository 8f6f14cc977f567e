"""Which materializer writes a given Python type.

Entries are keyed by the dotted name of a class and name their materializer by source,
so the registry knows pandas or scikit-learn types without importing either: the
lookup walks the value's MRO by name, and a library is only imported once one of its
objects is actually saved.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from zenml_kf.materializers.base import BaseMaterializer
from zenml_kf.source import load_source, source_of

if TYPE_CHECKING:
    from zenml_kf.pipelines.graph import OutputSpec

_PKG = "zenml_kf.materializers"
PICKLE_MATERIALIZER = f"{_PKG}.pickle_materializer:PickleMaterializer"

_BUILT_IN: dict[str, str] = {
    **{f"builtins.{t}": f"{_PKG}.builtin:BuiltInMaterializer" for t in ("int", "float", "bool", "str")},
    **{f"builtins.{t}": f"{_PKG}.builtin:BuiltInContainerMaterializer" for t in ("dict", "list", "tuple")},
    "builtins.bytes": f"{_PKG}.builtin:BytesMaterializer",
    "builtins.NoneType": f"{_PKG}.builtin:NoneMaterializer",
    "numpy.ndarray": f"{_PKG}.numpy_materializer:NumpyMaterializer",
    "pandas.DataFrame": f"{_PKG}.pandas_materializer:PandasMaterializer",
    "pandas.core.frame.DataFrame": f"{_PKG}.pandas_materializer:PandasMaterializer",
    **{
        f"sklearn.base.{t}": f"{_PKG}.pickle_materializer:SklearnMaterializer"
        for t in (
            "BaseEstimator",
            "ClassifierMixin",
            "RegressorMixin",
            "ClusterMixin",
            "TransformerMixin",
        )
    },
}


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class MaterializerRegistry:
    def __init__(self, entries: Mapping[str, str] | None = None) -> None:
        self._entries: dict[str, str] = dict(_BUILT_IN if entries is None else entries)
        self._warned: set[str] = set()

    def register(self, data_type: type | str, materializer: type[BaseMaterializer] | str) -> None:
        """Use `materializer` for `data_type` and its subclasses (unless they have their own)."""
        key = data_type if isinstance(data_type, str) else _dotted(data_type)
        self._entries[key] = materializer if isinstance(materializer, str) else source_of(materializer)

    def lookup(self, cls: type) -> str | None:
        """Source of the registered materializer for `cls`, or None when only pickle fits."""
        for base in cls.__mro__:
            found = self._entries.get(_dotted(base))
            if found is not None:
                return found
        return None

    def resolve(self, cls: type, where: str) -> str:
        """Materializer source for `cls`, falling back to pickle with a one-time warning."""
        found = self.lookup(cls)
        if found is not None:
            return found
        name = _dotted(cls)
        if name not in self._warned:
            self._warned.add(name)
            from zenml_kf.log import get_logger  # logging loads only when there is a warning

            get_logger().warning(
                "No materializer for %s (%s): it will be pickled, which ties the artifact to "
                "this Python and library version. Register one with "
                "zenml_kf.materializers.register_materializer(%s, YourMaterializer) or pass "
                "output_materializers= to @step.",
                name,
                where,
                cls.__qualname__,
            )
        return PICKLE_MATERIALIZER


@functools.cache
def default_registry() -> MaterializerRegistry:
    """The registry `@step` outputs resolve against, built on first use."""
    return MaterializerRegistry()


def register_materializer(data_type: type | str, materializer: type[BaseMaterializer] | str) -> None:
    """Register a materializer in the default registry, for every step defined afterwards."""
    default_registry().register(data_type, materializer)


@functools.cache
def load_materializer(source: str) -> BaseMaterializer:
    cls = load_source(source)
    if not (isinstance(cls, type) and issubclass(cls, BaseMaterializer)):
        from zenml_kf.exceptions import MaterializerError

        raise MaterializerError(f"'{source}' is not a BaseMaterializer subclass; check the name")
    return cls()


def materializer_requirements(outputs: Iterable[OutputSpec]) -> list[str]:
    """The distributions a step image needs for these outputs' materializers, sorted.

    An output whose materializer is only known at run time (an `Any` or unregistered
    annotation) may be pickled, so it needs what the pickle materializer needs.
    """
    found: set[str] = set()
    for out in outputs:
        source = out.materializer
        if source is None and not out.unregistered_type:
            continue
        materializer = load_materializer(source or PICKLE_MATERIALIZER)
        found.update(type(materializer).requirements_for(out.data_type))
    return sorted(found)
