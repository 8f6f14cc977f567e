"""Run names: `<pipeline>-<YYYYmmdd-HHMMSS>-<6 hex>`, the same locally and on Kubeflow, so
`zenml runs list` and the KFP UI name a run alike."""

from __future__ import annotations

import time
import uuid


def new_run_id(pipeline_name: str) -> str:
    return f"{pipeline_name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
