"""YAML that is read far more often than it changes, parsed once and kept as JSON.

The stack registry is read by every run and command, and importing PyYAML costs more
than everything else in reading it (about 8 ms: its pure-Python modules load even when
libyaml parses). The JSON copy stores the YAML text it was parsed from and is used only
when that text matches the file's exactly, so an edit by hand, a `git checkout` or a
copy of the repository is seen at once; a missing, corrupt or unwritable copy only means
parsing again.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any


class InvalidYAML(ValueError):
    """The text is not valid YAML; `line` (1-based) is where the parser stopped, if known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_yaml(text: str, copy: Path) -> Any:
    """`text` parsed as YAML (safe loader), from `copy` when it was parsed from the same text."""
    try:
        kept = json.loads(copy.read_text())
        if isinstance(kept, dict) and kept.get("yaml") == text and "data" in kept:
            return kept["data"]
    except (OSError, ValueError):
        pass
    import yaml

    try:
        # libyaml's parser when PyYAML has it.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InvalidYAML(str(exc), mark.line + 1 if mark is not None else None) from exc
    remember(text, data, copy)
    return data


def remember(text: str, data: Any, copy: Path) -> None:
    """Keep `data`, parsed from `text`, in `copy`; a writer that has both saves the next
    reader the parse. Best effort: a value JSON would change (a date, a number as a key)
    is not kept."""
    try:
        encoded = json.dumps({"yaml": text, "data": data})
    except (TypeError, ValueError):
        return
    if json.loads(encoded)["data"] != data:
        return
    tmp = copy.with_name(f".{copy.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        tmp.write_text(encoded)
        os.replace(tmp, copy)  # readers see the old copy or the new one, never half of one
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
