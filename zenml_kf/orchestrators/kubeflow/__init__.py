"""The kubeflow orchestrator: build the step image, compile, submit to KFP, follow the run.

`config` holds the registered settings, `connection` talks to the KFP API through
`kfp.Client`, `submit` turns a pipeline into a KFP run or recurring run, `follow` waits
for a run, and `orchestrator` ties them to the stack. kfp is imported only when a run is
compiled or submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zenml_kf.orchestrators.base import BaseOrchestrator
    from zenml_kf.orchestrators.kubeflow.orchestrator import KubeflowOrchestrator


def as_kubeflow(orchestrator: BaseOrchestrator) -> KubeflowOrchestrator | None:
    """The orchestrator when it submits to KFP (what `runs list`, `schedules`, compiling
    and reading cluster runs ask), else None."""
    from zenml_kf.orchestrators.kubeflow.orchestrator import KubeflowOrchestrator

    return orchestrator if isinstance(orchestrator, KubeflowOrchestrator) else None
