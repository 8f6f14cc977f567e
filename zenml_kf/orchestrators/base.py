"""Orchestrators take a pipeline and a stack and make a run happen."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from zenml_kf.stack.component import StackComponent
from zenml_kf.stack.types import ComponentType

if TYPE_CHECKING:
    from zenml_kf.metadata.views import PipelineRunView
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.stack.stack import Stack


class BaseOrchestrator(StackComponent):
    TYPE: ClassVar[ComponentType] = ComponentType.ORCHESTRATOR

    def run(self, pipeline: Pipeline, stack: Stack, repository: Repository) -> PipelineRunView:
        raise NotImplementedError
