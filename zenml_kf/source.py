"""Import paths for code objects: `module:qualname` strings that survive serialization.

The graph model names steps, config classes and materializers by source so it can be
written to MLMD or a container image and resolved again elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zenml_kf.exceptions import SourceError


def source_of(obj: Any) -> str:
    """`module:qualname` of a class or function."""
    return f"{obj.__module__}:{obj.__qualname__}"


def type_name(tp: Any) -> str:
    """Readable dotted name of a type or annotation, as recorded for artifacts."""
    if isinstance(tp, type):
        if tp.__module__ == "builtins":
            return tp.__qualname__
        return f"{tp.__module__}.{tp.__qualname__}"
    if tp is None:
        return "None"
    return repr(tp).replace("typing.", "")


def load_source(source: str) -> Any:
    """Resolve `module:qualname` to the object it names."""
    module_name, sep, qualname = source.partition(":")
    if not sep or not module_name or not qualname:
        raise SourceError(f"'{source}' is not a source reference; write it as 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceError(
            f"cannot import module '{module_name}' for '{source}': {exc}; "
            "make sure it is installed or on PYTHONPATH"
        ) from None
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SourceError(
                f"module '{module_name}' has no attribute '{qualname}'; check the name in '{source}'"
            ) from None
    return obj


@contextmanager
def code_root_on_path(root: Path | None) -> Iterator[None]:
    """`root` first on sys.path while user code (a materializer, a data type) is imported from
    it, as it is under `zenml run`: reading an artifact must not depend on the current folder."""
    entry = str(root) if root is not None else None
    if entry is None or entry in sys.path:
        yield
        return
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def load_target(target: str, root: Path | None = None) -> Any:
    """Resolve a CLI target: `path/to/file.py:attr` or `package.module:attr`.

    A file is imported under a module name derived from its path relative to `root`
    (so sources recorded for its steps resolve the same way in a container built from
    that root), and the root goes on sys.path so the file's own imports work.
    """
    location, sep, attr = target.rpartition(":")
    if not sep or not location or not attr:
        raise SourceError(
            f"'{target}' names no attribute; write it as 'path/to/file.py:pipeline' "
            "or 'package.module:pipeline'"
        )
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location).resolve()
        if not path.is_file():
            raise SourceError(f"file '{location}' does not exist; check the path in '{target}'")
        module_name = _module_name_for(path, root)
        module = _import_file(path, module_name, root)
        obj = getattr(module, attr, _MISSING)
        if obj is _MISSING:
            raise SourceError(f"'{location}' defines no attribute '{attr}'; check the name in '{target}'")
        return obj
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return load_source(f"{location}:{attr}")


_MISSING = object()


def module_name_under(relative: Path) -> str | None:
    """The dotted module a file at `relative` (to a sys.path entry) imports as, if any."""
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _module_name_for(path: Path, root: Path | None) -> str:
    if root is not None and path.is_relative_to(root.resolve()):
        name = module_name_under(path.relative_to(root.resolve()))
        if name is not None:
            return name
    return path.stem if path.stem.isidentifier() else "zenml_kf_target"


def _import_file(path: Path, module_name: str, root: Path | None) -> Any:
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    for entry in (root, path.parent):
        if entry is not None and str(entry) not in sys.path:
            sys.path.insert(0, str(entry))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SourceError(f"cannot import '{path}' as Python; is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def resolve_type(name: str) -> type:
    """The recorded data type as a class, or `object` when it cannot be imported here."""
    import builtins

    if "." not in name:
        found = getattr(builtins, name, object)
        return found if isinstance(found, type) else object
    module, _, qualname = name.rpartition(".")
    try:
        obj: Any = importlib.import_module(module)
        obj = getattr(obj, qualname)
    except (ImportError, AttributeError):
        return object
    return obj if isinstance(obj, type) else object
