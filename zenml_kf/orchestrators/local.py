"""The local orchestrator: steps run as threads of this process, metadata in the stack's MLMD."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from zenml_kf.exceptions import StackError
from zenml_kf.orchestrators.base import BaseOrchestrator
from zenml_kf.stack.component import OrchestratorConfig

if TYPE_CHECKING:
    from zenml_kf.metadata.views import PipelineRunView
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.stack.stack import Stack


class LocalOrchestratorConfig(OrchestratorConfig):
    max_workers: int = Field(default=8, ge=1, le=256)
    """How many independent steps may run at once."""


class LocalOrchestrator(BaseOrchestrator):
    config: LocalOrchestratorConfig

    def run(
        self, pipeline: Pipeline, stack: Stack, repository: Repository, **options: Any
    ) -> PipelineRunView:
        from zenml_kf.orchestrators.local_run import LocalRun

        if options.get("schedule") is not None:
            raise StackError(
                f"stack '{stack.name}' runs pipelines on this machine, which has no scheduler; "
                "schedules need a kubeflow stack"
            )

        return LocalRun(pipeline, stack, repository, self.config.max_workers).execute()
