"""Cache keys: a step is reused when nothing that decides its outputs changed.

That is its code (and its config class), its parameters, its output materializers
(name and source) and the exact input artifacts, identified by URI because every
execution writes to a fresh URI.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Mapping

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
