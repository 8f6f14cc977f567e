"""What is installed here: import names to pip distributions, versions, dependencies.

Step images are built from requirement names while Python code imports modules; the
two differ (`import sklearn` is `scikit-learn`), so both the image builder and the
import check translate through the metadata of the distributions installed where the
pipeline is compiled. Everything is read from `importlib.metadata` and parsed with
`packaging`, pip's own parser; nothing is imported.
"""

from __future__ import annotations

import functools
import sys
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def canonical(name: str) -> str:
    """PEP 503 form of a distribution name: `Scikit_Learn` and `scikit-learn` are one."""
    return canonicalize_name(name)


def requirement_name(line: str) -> str | None:
    """The distribution a requirements-file line names, canonical; None for options
    (`-r`, `--index-url`), paths and URLs without an `#egg=` name."""
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return None
    if "#egg=" in text:  # pip's own form for a VCS or URL requirement, not PEP 508
        return canonical(text.split("#egg=", 1)[1].split("&", 1)[0])
    try:
        return canonical(Requirement(text).name)
    except InvalidRequirement:
        return None


@functools.cache
def _import_names() -> dict[str, tuple[str, ...]]:
    # Scans every installed distribution's file list once (tens of milliseconds).
    return {name: tuple(dists) for name, dists in metadata.packages_distributions().items()}


def distributions_of_import(top_level: str) -> tuple[str, ...]:
    """Installed distributions that provide the top-level module `top_level`."""
    return _import_names().get(top_level, ())


def distribution_of_module(module: str) -> str | None:
    """The distribution that installed `module` (dotted), or None for the standard
    library, the user's own code and modules no distribution claims."""
    top = module.split(".", 1)[0]
    if not top or top in sys.stdlib_module_names or top == "builtins":
        return None
    loaded = sys.modules.get(top)
    file = getattr(loaded, "__file__", None)
    if file is not None and not _installed_file(file):
        return None  # a module of the user's code that shares a name with a distribution
    named = _same_name_distribution(top)
    if named is not None:
        return named
    found = distributions_of_import(top)  # the slow, complete answer
    return found[0] if found else None


def _same_name_distribution(top: str) -> str | None:
    """The distribution named like the module that ships it (numpy, pandas): a single
    metadata read instead of a scan of every installed distribution."""
    try:
        dist = metadata.distribution(top)
    except metadata.PackageNotFoundError:
        return None
    top_level = dist.read_text("top_level.txt")
    if top_level is not None:
        return str(dist.metadata["Name"]) if top in top_level.split() else None
    for file in dist.files or ():
        if file.parts and file.parts[0] in (top, f"{top}.py"):
            return str(dist.metadata["Name"])
    return None


def local_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def with_dependencies(names: set[str]) -> set[str]:
    """`names` (canonical) and every distribution they need, as installed here.

    Optional dependencies (behind an `extra` marker) are left out: pip does not install
    them for a plain requirement either.
    """
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:  # a malformed Requires-Dist line names nothing to follow
                continue
            if requirement.marker is not None and "extra" in str(requirement.marker):
                continue
            dependency = canonical(requirement.name)
            if dependency not in seen:
                todo.append(dependency)
    return seen


def _installed_file(file: str) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in file.replace("\\", "/").split("/"))
