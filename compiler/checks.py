"""Checks that every step can run in a container built from the code root.

A step, its config class and its materializers are found in the container by their
`module:qualname` source. What cannot be imported there (a script run as `__main__`, a
class defined inside a function, a file outside the directory copied into the image)
would only fail once a pod starts, so it fails at compile time instead.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from zenml_kf.exceptions import CompilerError
from zenml_kf.log import get_logger
from zenml_kf.materializers.registry import PICKLE_MATERIALIZER
from zenml_kf.pipelines.graph import OutputSpec, PipelineGraph
from zenml_kf.source import module_name_under


def check_graph(graph: PipelineGraph, code_root: Path | None, strict: bool = True) -> None:
    """Raise for sources a container cannot import; warn about pickled outputs.

    `strict=False` (a user-supplied image, whose contents are unknown) only warns about
    files outside `code_root`.
    """
    for spec in graph.steps:
        check_source(spec.source, f"step '{spec.name}'", code_root, strict)
        if spec.config_source:
            check_source(spec.config_source, f"the config class of step '{spec.name}'", code_root, strict)
        for out in spec.outputs:
            where = f"output '{out.name}' of step '{spec.name}'"
            if out.materializer is not None:
                check_source(out.materializer, f"the materializer of {where}", code_root, strict)
            if _pickled(out):
                get_logger().warning(
                    "%s (%s) is pickled: the image must have the same versions of the libraries "
                    "that define it; register a materializer for it to be safe",
                    where,
                    out.data_type,
                )


def _pickled(out: OutputSpec) -> bool:
    return out.materializer == PICKLE_MATERIALIZER or out.unregistered_type


def check_source(source: str, what: str, code_root: Path | None, strict: bool = True) -> None:
    module_name, _, qualname = source.partition(":")
    if module_name == "__main__":
        raise CompilerError(
            f"{what} is defined in a script run as __main__, which a container cannot import; "
            "move it into a module and compile it with 'zenml compile path/to/file.py:pipeline'"
        )
    if "<locals>" in qualname:
        raise CompilerError(
            f"{what} ({qualname.replace('.<locals>', '')}) is defined inside a function, which a "
            "container cannot import; define it at the top level of its module"
        )
    if module_name.split(".")[0] == "zenml_kf":
        return  # the SDK is installed in every step image
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if code_root is None or file is None:
        return
    path = Path(file).resolve()
    root = code_root.resolve()
    if _is_installed(path):
        return
    if not path.is_relative_to(root):
        message = (
            f"{what} is defined in {path}, outside the code root {root} that is copied into the "
            "step image, so the container cannot import it; move it under the code root or "
            "compile from the directory that holds it"
        )
        if strict:
            raise CompilerError(message)
        get_logger().warning("%s", message)
        return
    expected = module_name_under(path.relative_to(root))
    if expected is not None and expected != module_name:
        raise CompilerError(
            f"{what} was imported as module '{module_name}', but in the image it is "
            f"'{expected}' (its path under the code root {root}); import it as '{expected}'"
        )


def _is_installed(path: Path) -> bool:
    """Installed distributions and the standard library are in the image by other means."""
    for key in ("purelib", "platlib", "stdlib", "platstdlib"):
        location = sysconfig.get_paths().get(key)
        if location and path.is_relative_to(Path(location).resolve()):
            return True
    return any(part in ("site-packages", "dist-packages") for part in path.parts)
