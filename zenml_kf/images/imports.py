"""Which third-party packages the step code imports that the step image will not have.

A step that imports a library missing from the image fails only once its pod starts;
reading the step modules' source with `ast` finds that at compile time, without
importing (or running) anything. Followed: the modules of the graph's steps,
materializers and config classes that live under the code root, and the code-root
modules they import in turn. Skipped: imports under `if TYPE_CHECKING:` and inside
`try:` blocks that handle ImportError, which the code already treats as optional.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from zenml_kf.images.distributions import canonical, distributions_of_import, with_dependencies
from zenml_kf.images.requirements import named

# In every step image, though no requirements file names them.
_ALWAYS_PRESENT = frozenset({"zenml_kf", "__future__", "pip", "setuptools", "_distutils_hack"})


@dataclass(frozen=True)
class MissingImport:
    module: str  # the top-level name imported, e.g. `sklearn`
    file: str  # the first file that imports it, relative to the code root
    distribution: str | None  # what provides it here, e.g. `scikit-learn`; None: not installed

    def message(self) -> str:
        what = f"'{self.distribution}'" if self.distribution else f"the package that provides '{self.module}'"
        return (
            f"{self.file} imports '{self.module}', which the step image will not have; "
            f"add {what} to a requirements file and pass it with -r (or the stack's image requirements)"
        )


def missing_imports(files: Iterable[Path], code_root: Path, requirements: list[str]) -> list[MissingImport]:
    """Top-level imports of `files` (and the code-root modules they import) that neither
    the standard library, the code root nor `requirements` (with their dependencies) provide."""
    root = code_root.resolve()
    available = with_dependencies({canonical(name) for name in named(requirements)})
    missing: dict[str, MissingImport] = {}
    for file, module in _imports_under(files, root):
        if module in missing or _provided(module, file, root, available):
            continue
        found = distributions_of_import(module)
        where = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
        missing[module] = MissingImport(module, where, found[0] if found else None)
    return sorted(missing.values(), key=lambda m: m.module)


def _provided(module: str, file: Path, root: Path, available: set[str]) -> bool:
    if module in sys.stdlib_module_names or module in _ALWAYS_PRESENT:
        return True
    if _local(module, root) or _local(module, file.parent):
        return True
    found = distributions_of_import(module)
    if not found:  # not installed here: a requirement named like the module counts
        return canonical(module) in available
    return any(canonical(dist) in available for dist in found)


def _local(module: str, folder: Path) -> bool:
    return (folder / f"{module}.py").is_file() or (folder / module).is_dir()


def _imports_under(files: Iterable[Path], root: Path) -> Iterator[tuple[Path, str]]:
    """(file, top-level module) for each absolute import, following code-root modules."""
    todo = [Path(f).resolve() for f in files]
    seen: set[Path] = set()
    while todo:
        file = todo.pop(0)
        if file in seen or not file.is_file():
            continue
        seen.add(file)
        try:
            tree = ast.parse(file.read_bytes(), filename=str(file))
        except (SyntaxError, ValueError):
            continue  # importing it reports the error properly
        for dotted in _required_imports(tree):
            yield file, dotted.split(".", 1)[0]
            todo.extend(_code_root_files(dotted, root))


def _code_root_files(dotted: str, root: Path) -> list[Path]:
    """The files under the code root an import of `dotted` executes (packages' __init__ too)."""
    found: list[Path] = []
    folder = root
    for part in dotted.split("."):
        if (folder / f"{part}.py").is_file():
            found.append(folder / f"{part}.py")
            break
        folder = folder / part
        if not folder.is_dir():
            break
        if (folder / "__init__.py").is_file():
            found.append(folder / "__init__.py")
    return found


def _required_imports(tree: ast.AST) -> Iterator[str]:
    """Dotted names of absolute imports that run when the module is used."""
    for node in _required_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            # `from pkg import sub` may import the module pkg.sub
            yield from (f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")


def _required_nodes(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from (n for stmt in child.orelse for n in (stmt, *_required_nodes(stmt)))
            continue
        if isinstance(child, ast.Try) and _handles_import_error(child):
            for stmt in (*child.orelse, *child.finalbody, *(s for h in child.handlers for s in h.body)):
                yield stmt
                yield from _required_nodes(stmt)
            continue
        yield child
        yield from _required_nodes(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _handles_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for name in names:
            if name is None or (
                isinstance(name, ast.Name) and name.id in ("ImportError", "ModuleNotFoundError", "Exception")
            ):
                return True
    return False
