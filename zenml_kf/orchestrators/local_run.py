"""One local run: schedule steps as their inputs become ready, reuse cached ones.

Worker threads only execute steps (load, call, write); every MLMD write happens on the
scheduling thread, so one metadata connection serves the run without locks. A failing
step stops new steps from starting, lets running ones finish and record, then fails
the run.
"""

from __future__ import annotations

import json
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import TYPE_CHECKING

import zenml_kf
from zenml_kf.exceptions import StepFailedError, ZenMLKFError
from zenml_kf.git_state import git_state
from zenml_kf.log import ensure_console_handler, get_logger
from zenml_kf.metadata.recorder import MetadataRecorder, NewArtifact, RunRecord
from zenml_kf.metadata.values import get_value
from zenml_kf.metadata.views import MetadataReader
from zenml_kf.orchestrators.caching import cache_key
from zenml_kf.orchestrators.run_ids import new_run_id
from zenml_kf.pipelines.graph import StepSpec
from zenml_kf.source import resolve_type
from zenml_kf.steps.runner import InputArtifact, StepCodeError, WrittenOutput, run_step

if TYPE_CHECKING:
    from ml_metadata.proto import metadata_store_pb2 as pb

    from zenml_kf.metadata.views import PipelineRunView
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.repository import Repository
    from zenml_kf.stack.stack import Stack

logger = get_logger(__name__)


def _leave_signals_to_main() -> None:
    """Block Ctrl-C in step threads so the kernel delivers it to the scheduling thread.

    Otherwise a signal landing on a worker never wakes the scheduler out of its wait.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _package_version() -> str:
    try:
        return str(zenml_kf.__version__)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@dataclass
class _Running:
    spec: StepSpec
    execution: pb.Execution
    inputs: dict[str, pb.Artifact]
    uris: dict[str, str]


class LocalRun:
    def __init__(self, pipeline: Pipeline, stack: Stack, repository: Repository, max_workers: int) -> None:
        self.pipeline = pipeline
        self.graph = pipeline.graph
        self.definitions = pipeline.steps
        self.stack = stack
        self.repository = repository
        self.max_workers = max_workers
        self.run_id = new_run_id(self.graph.name)
        self.produced: dict[tuple[str, str], pb.Artifact] = {}
        self.failure: str | None = None
        self._running: dict[Future[list[WrittenOutput]], _Running] = {}

    def execute(self) -> PipelineRunView:
        ensure_console_handler()
        store = self.stack.metadata_store.store
        recorder = MetadataRecorder(store)
        git = git_state(self.repository.root)
        run = recorder.start_run(
            self.graph.name,
            self.run_id,
            self.stack.artifact_store.root_uri,
            {
                "pipeline_name": self.graph.name,
                "pipeline_config": self.graph.model_dump_json(),
                "stack": json.dumps(self.stack.describe()),
                "git_commit": git.commit or "",
                "git_dirty": bool(git.dirty),
                "zenml_kf_version": _package_version(),
            },
        )
        logger.info(
            "Running pipeline %s on stack %s (run %s)",
            self.graph.name,
            self.stack.name,
            self.run_id,
        )
        started = time.perf_counter()
        try:
            self._schedule(recorder, run)
        except BaseException:
            # Interrupted (Ctrl-C) or broken: leave no execution looking as if it still runs.
            for state in self._running.values():
                recorder.fail_step(run, state.execution, "interrupted", canceled=True)
            recorder.finish_run(run, failed=True)
            raise
        recorder.finish_run(run, failed=self.failure is not None)
        if self.failure is not None:
            logger.error("Run %s failed", self.run_id)
            raise StepFailedError(f"{self.failure}; run {self.run_id} is recorded as failed", self.run_id)
        logger.info("Run %s completed in %.2fs", self.run_id, time.perf_counter() - started)
        return MetadataReader(store, self.stack.artifact_store).run(self.run_id)

    def _schedule(self, recorder: MetadataRecorder, run: RunRecord) -> None:
        pending = list(self.graph.steps)
        done: set[str] = set()
        running = self._running
        pool = ThreadPoolExecutor(
            max_workers=self.max_workers, thread_name_prefix="zenml-step", initializer=_leave_signals_to_main
        )
        completed = False
        try:
            while True:
                progressed = True
                while progressed and self.failure is None:
                    progressed = False
                    for spec in [s for s in pending if done.issuperset(s.upstream)]:
                        pending.remove(spec)
                        if self._start(spec, recorder, run, pool, running):
                            done.add(spec.name)
                            progressed = True
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    state = running[future]
                    if self._finish(state, future, recorder, run):
                        done.add(state.spec.name)
                    del running[future]  # only once recorded, so an interrupt still finds it
            completed = True
        finally:
            # On an interrupt, do not wait for running steps; their threads end with the process.
            pool.shutdown(wait=completed, cancel_futures=True)
        for spec in pending:
            logger.info("  - %s not run", spec.name)

    def _start(
        self,
        spec: StepSpec,
        recorder: MetadataRecorder,
        run: RunRecord,
        pool: ThreadPoolExecutor,
        running: dict[Future[list[WrittenOutput]], _Running],
    ) -> bool:
        """Reuse the cache (True: the step is done) or submit the step to a worker."""
        inputs = {edge.name: self.produced[(edge.step, edge.output)] for edge in spec.inputs}
        key = cache_key(spec, {name: artifact.uri for name, artifact in inputs.items()})
        properties = {
            "cache_fingerprint": key,
            "parameters": json.dumps(spec.parameters),
            "inputs": spec.parameters,
            "step_name": spec.step_name,
            "step_source": spec.source,
        }
        if spec.enable_cache:
            hit = recorder.find_cached(key)
            if hit is not None and self._outputs_exist(spec, hit[1]):
                recorder.record_cached(run, spec.name, properties, hit[0], inputs, hit[1])
                for name, artifact in hit[1].items():
                    self.produced[(spec.name, name)] = artifact
                logger.info("  ↻ %s cached", spec.name)
                return True
        execution = recorder.start_step(run, spec.name, properties)
        uris = {
            out.name: self.stack.artifact_store.artifact_uri(
                self.graph.name, self.run_id, spec.name, out.name
            )
            for out in spec.outputs
        }
        logger.info("  ▶ %s started", spec.name)
        future = pool.submit(self._work, spec, inputs, uris)
        running[future] = _Running(spec, execution, inputs, uris)
        return False

    def _outputs_exist(self, spec: StepSpec, outputs: dict[str, pb.Artifact]) -> bool:
        if set(outputs) != {out.name for out in spec.outputs}:
            return False
        if all(self.stack.artifact_store.exists(a.uri) for a in outputs.values()):
            return True
        logger.warning("  cache of %s skipped: its artifacts were deleted from the store", spec.name)
        return False

    def _work(
        self, spec: StepSpec, inputs: dict[str, pb.Artifact], uris: dict[str, str]
    ) -> list[WrittenOutput]:
        """Runs on a worker thread: stage inputs, run the step, publish output folders."""
        store = self.stack.artifact_store
        with ExitStack() as stack:
            loaded = {}
            for name, artifact in inputs.items():
                path: Path = stack.enter_context(store.reading(artifact.uri))
                loaded[name] = InputArtifact(
                    path=path,
                    materializer=str(get_value(artifact.custom_properties, "materializer")),
                    data_type=resolve_type(str(get_value(artifact.custom_properties, "data_type"))),
                )
            dirs = {name: stack.enter_context(store.writing(uri)) for name, uri in uris.items()}
            return run_step(self.definitions[spec.name], spec, loaded, dirs)

    def _finish(
        self,
        state: _Running,
        future: Future[list[WrittenOutput]],
        recorder: MetadataRecorder,
        run: RunRecord,
    ) -> bool:
        name = state.spec.name
        try:
            written = future.result()
        except StepCodeError as exc:
            logger.error("  ✗ %s failed:\n%s", name, exc.formatted.rstrip())
            self._fail(recorder, run, state, f"step '{name}' raised {exc}")
            return False
        except ZenMLKFError as exc:
            logger.error("  ✗ %s failed: %s", name, exc)
            self._fail(recorder, run, state, str(exc))
            return False
        except Exception as exc:  # a store or a materializer broke outside the user's code
            formatted = "".join(traceback.format_exception(exc)).rstrip()
            logger.error("  ✗ %s failed:\n%s", name, formatted)
            self._fail(recorder, run, state, f"step '{name}' failed: {type(exc).__name__}: {exc}")
            return False
        outputs = [
            NewArtifact(w.name, state.uris[w.name], w.artifact_type, w.materializer, w.data_type, w.metadata)
            for w in written
        ]
        published = recorder.publish_step(run, state.execution, state.inputs, outputs)
        for out_name, artifact in published.items():
            self.produced[(name, out_name)] = artifact
        elapsed = time.time() - float(get_value(state.execution.custom_properties, "started_at"))
        logger.info("  ✓ %s completed in %.2fs", name, elapsed)
        return True

    def _fail(self, recorder: MetadataRecorder, run: RunRecord, state: _Running, message: str) -> None:
        recorder.fail_step(run, state.execution, message)
        if self.failure is None:
            self.failure = message


__all__ = ["LocalRun"]
