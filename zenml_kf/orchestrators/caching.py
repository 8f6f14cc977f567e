"""Cache keys: a step is reused when nothing that decides its outputs changed.

That is its code (and its config class), its parameters, its output materializers
(name and source) and the exact input artifacts, identified by URI because every
execution writes to a fresh URI.

A matching execution is reused only if every output it recorded is whole in the
current stack's artifact store (`cache_miss_reason`): a file deleted or truncated after
publishing, or an artifact of another store recorded in a shared metadata store, makes
the step run again, and with it every step downstream, whose input URIs then change.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Mapping

from zenml_kf.artifact_stores.base import BaseArtifactStore
from zenml_kf.pipelines.graph import StepSpec
from zenml_kf.source import load_source


@functools.cache
def _materializer_hash(source: str) -> str:
    try:
        text = inspect.getsource(load_source(source))
    except (OSError, TypeError):
        text = source
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(spec: StepSpec, input_uris: Mapping[str, str]) -> str:
    document = {
        "source": spec.source,
        "code": spec.code_hash,
        "parameters": spec.parameters,
        "outputs": [
            [o.name, o.materializer, _materializer_hash(o.materializer) if o.materializer else None]
            for o in spec.outputs
        ],
        "inputs": dict(sorted(input_uris.items())),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def cache_miss_reason(store: BaseArtifactStore, spec: StepSpec, output_uris: Mapping[str, str]) -> str | None:
    """None when a cached execution with these outputs may be reused; otherwise why not.

    Every output of the step must be recorded, under this store's root, and complete
    there (marker present, every listed file with its size: `is_complete`).
    """
    if set(output_uris) != {out.name for out in spec.outputs}:
        return "its recorded outputs differ from the step's outputs"
    for name, uri in sorted(output_uris.items()):
        if not store.holds(uri):
            return f"output '{name}' is in another artifact store ({uri}), not in {store.root_uri}"
        if not store.is_complete(uri):
            return f"output '{name}' is missing or damaged in the artifact store ({uri})"
    return None
