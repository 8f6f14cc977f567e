"""Where in the user's own code an exception was raised, for one-line errors.

The innermost frame of a traceback is rarely the user's: a bad parameter value is raised
inside pydantic, a syntax error inside importlib. What the user can fix is the last line
of *their* code on the way there (or, for a syntax error, the line the parser stopped at).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from pydantic import ValidationError

from zenml_kf.validation import describe

_LIBRARY_PARTS = frozenset({"site-packages", "dist-packages"})
_PACKAGE_DIR = Path(__file__).resolve().parent


def _display(filename: str, root: Path) -> str | None:
    """`filename` relative to `root` when it is the user's file there, else None."""
    if filename.startswith("<"):
        return None
    path = Path(filename).resolve()
    if not path.is_relative_to(root) or path.is_relative_to(_PACKAGE_DIR):
        return None
    if _LIBRARY_PARTS & set(path.parts) or Path(sys.prefix).resolve() in path.parents:
        return None
    return path.relative_to(root).as_posix()


def user_location(error: BaseException, root: Path) -> str | None:
    """`path/to/file.py:LINE` of the user's code the error came from, if any."""
    root = root.resolve()
    if isinstance(error, SyntaxError) and error.filename:
        shown = _display(error.filename, root)
        if shown is not None:
            return f"{shown}:{error.lineno}" if error.lineno else shown
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        shown = _display(frame.filename, root)
        if shown is not None:
            return f"{shown}:{frame.lineno}"
    return None


def describe_error(error: BaseException) -> str:
    """`Type: message`, with a pydantic error summarised (its own text spans many lines and
    links to its docs) and a syntax error without the location that is reported apart."""
    if isinstance(error, ValidationError):
        return f"ValidationError for {error.title}: {describe(error)}"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg}"
    return f"{type(error).__name__}: {error}"
