"""The kubeflow orchestrator: connect, make the step image, compile, submit, maybe follow.

The order is chosen so the cheap failures come first: the KFP API is asked before an
image is built, and the image exists (built and pushed, or named) before the YAML that
references it is uploaded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import StackError
from zenml_kf.orchestrators.base import BaseOrchestrator
from zenml_kf.orchestrators.kubeflow.config import KubeflowOrchestratorConfig

if TYPE_CHECKING:
    from zenml_kf.images.builder import ImageOptions
    from zenml_kf.orchestrators.kubeflow.connection import KFPConnection
    from zenml_kf.orchestrators.kubeflow.follow import RunState
    from zenml_kf.orchestrators.kubeflow.run_sources import KFPRunSources
    from zenml_kf.orchestrators.kubeflow.submit import PipelineVersion
    from zenml_kf.orchestrators.schedule import Schedule
    from zenml_kf.pipelines.compilation import CompiledPipeline, ImageChoice
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.stack.stack import Stack


@dataclass
class KubeflowRun:
    """A run submitted to KFP: its id, its link in the KFP UI, and `wait()`."""

    run_id: str
    name: str
    url: str
    version: PipelineVersion
    tasks: dict[str, str]  # KFP task name -> step name
    connection: KFPConnection
    timeout_seconds: float
    poll_seconds: float

    def state(self) -> RunState:
        from zenml_kf.orchestrators.kubeflow.follow import read_state

        return read_state(self.connection, self.run_id, set(self.tasks))

    def wait(
        self, timeout_seconds: float | None = None, report: Callable[[str], None] | None = None
    ) -> RunState:
        """Follow the run to a terminal state (SUCCEEDED, FAILED, SKIPPED, CANCELED)."""
        from zenml_kf.orchestrators.kubeflow.follow import follow

        return follow(
            self.connection,
            self.run_id,
            timeout_seconds or self.timeout_seconds,
            self.poll_seconds,
            report or (lambda _line: None),
            self.tasks,
        )

    def terminate(self) -> None:
        self.connection.call(
            f"terminating run {self.run_id}", self.connection.client.terminate_run, self.run_id
        )


@dataclass
class ScheduledRun:
    """A recurring run in KFP: each trigger starts a run of the same pipeline version."""

    recurring_run_id: str
    name: str
    url: str
    version: PipelineVersion


class KubeflowOrchestrator(BaseOrchestrator):
    config: KubeflowOrchestratorConfig

    def check(self, stack: Stack) -> None:
        from zenml_kf.stack.validation import check_stack

        check_stack(stack.name, self.flavor, stack.artifact_store.flavor, stack.metadata_store.flavor)

    def connect(self) -> KFPConnection:
        from zenml_kf.orchestrators.kubeflow.connection import KFPConnection

        return KFPConnection(self.config)

    def run_sources(self) -> KFPRunSources:
        """Where the post-run API learns a cluster run's state and graph (the KFP API)."""
        from zenml_kf.orchestrators.kubeflow.run_sources import KFPRunSources

        return KFPRunSources(self.config)

    def image_options(self) -> ImageOptions:
        """How this stack builds step images: its registry, base, requirements and index."""
        from zenml_kf.images.builder import ImageOptions, read_requirements
        from zenml_kf.pipelines.compilation import default_code_root

        root = default_code_root()
        wheelhouse = Path(self.config.wheelhouse).expanduser() if self.config.wheelhouse else None
        if wheelhouse is not None and not wheelhouse.is_dir():
            raise StackError(
                f"wheelhouse '{wheelhouse}' of orchestrator '{self.name}' is not a directory; "
                "create it with 'pip wheel -w DIR ...'"
            )
        return ImageOptions(
            code_root=root,
            repository=self.config.image_registry or "zenml-kf-steps",
            python_image=self.config.python_image,
            base_image=self.config.base_image,
            requirements=read_requirements([root / f for f in self.config.requirements]),
            wheelhouse=wheelhouse.resolve() if wheelhouse else None,
            index_url=self.config.index_url,
            network_mode=None if wheelhouse else "host",
        )

    def compile(
        self, pipeline: Pipeline, path: str | Path, choice: ImageChoice, stack: Stack
    ) -> CompiledPipeline:
        """The YAML this stack runs: its image registry, its artifact store as pipeline
        root, its default step settings under the pipeline's own."""
        from zenml_kf.pipelines.compilation import compile_pipeline

        self.check(stack)
        if choice.options is None:
            choice.options = self.image_options()
        prepared = pipeline.with_default_settings(self.config.settings) if self.config.settings else pipeline
        return compile_pipeline(prepared, path, choice, pipeline_root=stack.artifact_store.root_uri)

    def run(
        self,
        pipeline: Pipeline,
        stack: Stack,
        repository: Repository,
        image: str | None = None,
        build: bool | None = None,
        wait: bool | None = None,
        schedule: Schedule | None = None,
        log: Callable[[str], None] = print,
        **options: Any,
    ) -> KubeflowRun | ScheduledRun:
        """Submit `pipeline` as a KFP run (or a recurring run with `schedule`).

        The step image is `image` when given; otherwise the content-tagged image is built
        and pushed to the image registry (reused when unchanged), or with `build=False`
        only named (it must be in the registry already).
        """
        from zenml_kf.orchestrators.kubeflow import submit
        from zenml_kf.orchestrators.run_ids import new_run_id
        from zenml_kf.pipelines.compilation import ImageChoice

        self.check(stack)
        choice = ImageChoice(image=image, build=image is None and build is not False)
        choice.push = choice.build
        if image is None and not self.config.image_registry:
            raise StackError(
                f"orchestrator '{self.name}' has no image_registry to push the step image to, and no "
                "image was given; register it with --image-registry REGISTRY/REPOSITORY (or set "
                "ZENML_KF_ORCHESTRATOR_IMAGE_REGISTRY), or pass --image"
            )
        connection = self.connect()
        with tempfile.TemporaryDirectory(prefix="zenml-kf-submit-") as folder:
            compiled = self.compile(pipeline, Path(folder) / "pipeline.yaml", choice, stack)
            version = submit.ensure_version(connection, compiled, self.config.namespace)
        graph = compiled.graph
        experiment = self.config.experiment or graph.name
        request = submit.RunRequest(
            name=schedule.name if schedule is not None and schedule.name else new_run_id(graph.name),
            description=_description(graph.name, repository),
            parameters=submit.run_parameters(compiled),
            pipeline_root=stack.artifact_store.root_uri,
            experiment_id=submit.ensure_experiment(connection, experiment, self.config.namespace),
            service_account=self.config.service_account,
        )
        if schedule is not None:
            created = submit.create_recurring_run(connection, version, request, schedule)
            rid = str(created.recurring_run_id)
            return ScheduledRun(rid, request.name, connection.ui_url(f"recurringrun/details/{rid}"), version)
        created = submit.create_run(connection, version, request)
        from compiler.build import task_key

        handle = KubeflowRun(
            run_id=str(created.run_id),
            name=request.name,
            url=connection.ui_url(f"runs/details/{created.run_id}"),
            version=version,
            tasks={task_key(spec.name): spec.name for spec in graph.steps},
            connection=connection,
            timeout_seconds=self.config.timeout_seconds,
            poll_seconds=self.config.poll_seconds,
        )
        if wait if wait is not None else self.config.wait:
            handle.wait(report=log)
        return handle


def _description(pipeline_name: str, repository: Repository) -> str:
    """What a KFP user sees of a run's origin: the git commit and whether the tree was dirty."""
    from zenml_kf.git_state import git_state

    state = git_state(repository.root)
    commit = state.commit or "no commit"
    dirty = " with uncommitted changes" if state.dirty else ""
    return f"zenml-kf run of {pipeline_name} from git {commit}{dirty}"
