"""What an earlier build learnt from a project's pipeline graph, keyed by content.

A step image's tag covers the materializers' requirements, which only the pipeline
graph knows, and building the graph imports the user's module (seconds for a
scikit-learn project). `zenml image build` records the graph's requirements under a
key made of everything the graph is built from: the code root's files, the config
file, the target, the SDK and the Python version. The same key later gives the
requirements back without importing anything, so an unchanged project answers at once;
any change to those inputs is a new key, and the slow path runs again.

Records live in the user's cache folder (`$XDG_CACHE_HOME/zenml-kf`, else
`~/.cache/zenml-kf`); a missing or unreadable record only costs the slow path.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_VERSION = "1"


@dataclass(frozen=True)
class Known:
    pipeline: str  # the pipeline's name, for the command's answer
    requirements: list[str]  # PipelineGraph.requirements


def project_key(step_digest: str, target: str, config: Path | None) -> str:
    """The key of one project state; `step_digest` already covers the code root, the
    user's requirements and the base image (and with it the SDK)."""
    sha = hashlib.sha256(f"{_VERSION}\0{step_digest}\0{target}\0{sys.version}".encode())
    if config is not None:
        try:
            sha.update(b"\0" + Path(config).read_bytes())
        except OSError:
            sha.update(b"\0missing")
    return sha.hexdigest()


def lookup(key: str) -> Known | None:
    try:
        data = json.loads((_folder() / f"{key}.json").read_text())
        return Known(str(data["pipeline"]), [str(r) for r in data["requirements"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(key: str, known: Known) -> None:
    """Write the record atomically; a cache that cannot be written is no error."""
    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as handle:
            json.dump({"pipeline": known.pipeline, "requirements": known.requirements}, handle)
        os.replace(handle.name, folder / f"{key}.json")
    except OSError:
        return


def _folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zenml-kf" / "image-requirements"
