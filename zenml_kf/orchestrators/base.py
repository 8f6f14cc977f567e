"""Orchestrators take a pipeline and a stack and make a run happen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from zenml_kf.stack.component import StackComponent
from zenml_kf.stack.types import ComponentType

if TYPE_CHECKING:
    from zenml_kf.pipelines.compilation import CompiledPipeline, ImageChoice
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.stack.stack import Stack


class BaseOrchestrator(StackComponent):
    TYPE: ClassVar[ComponentType] = ComponentType.ORCHESTRATOR

    def run(self, pipeline: Pipeline, stack: Stack, repository: Repository, **options: Any) -> Any:
        """Run `pipeline`; `options` are the orchestrator's own (image, wait, schedule, ...)."""
        raise NotImplementedError

    def compile(
        self, pipeline: Pipeline, path: str | Path, choice: ImageChoice, stack: Stack
    ) -> CompiledPipeline:
        """The KFP YAML of `pipeline` as this orchestrator would run it; plain by default."""
        from zenml_kf.pipelines.compilation import compile_pipeline

        return compile_pipeline(pipeline, path, choice)
