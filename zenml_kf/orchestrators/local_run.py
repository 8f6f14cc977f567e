"""One local run: schedule steps as their inputs become ready, reuse cached ones.

Worker threads only execute steps (load, call, write); every MLMD write happens on the
scheduling thread, so one metadata connection serves the run without locks. The
recorder queues what a scheduling round decides (steps finished, cache hits, steps
started) and the round writes it in one transaction before any new step runs. A failing
step stops new steps from starting, lets running ones finish and record, then fails
the run.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import TYPE_CHECKING

import zenml_kf
from zenml_kf.exceptions import StepFailedError, ZenMLKFError
from zenml_kf.git_state import git_state
from zenml_kf.interpreter_exit import collect_once_at_exit
from zenml_kf.log import ensure_console_handler, get_logger
from zenml_kf.metadata.recorder import MetadataRecorder, NewArtifact, RunRecord
from zenml_kf.metadata.stale_runs import current_owner, reap_stale_runs
from zenml_kf.metadata.values import get_value
from zenml_kf.metadata.views import MetadataReader
from zenml_kf.orchestrators.caching import cache_key, cache_miss_reason
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


RUN_END = "zenml_run_end"
"""Set on the log record that closes a run, for a caller that sums the run up itself."""


class RunTerminated(KeyboardInterrupt):
    """SIGTERM reached a local run: handled like Ctrl-C, the run is recorded as failed."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Raise RunTerminated on SIGTERM in the scheduling thread (the main one) while running.

    Only the first SIGTERM raises: further ones must not interrupt recording the failure.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = False

    def handler(signum: int, frame: object) -> None:
        nonlocal received
        if not received:
            received = True
            raise RunTerminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        # Outputs this run wrote (not reused from the cache) and the cache keys of the steps
        # that wrote them: see `_may_be_cached`.
        self._written: set[tuple[str, str]] = set()
        self._run_keys: set[str] = set()
        self.failure: str | None = None
        self._running: dict[Future[list[WrittenOutput]], _Running] = {}

    def execute(self) -> PipelineRunView:
        ensure_console_handler()
        collect_once_at_exit()
        pool = ThreadPoolExecutor(
            max_workers=self.max_workers, thread_name_prefix="zenml-step", initializer=_leave_signals_to_main
        )
        try:
            return self._execute(pool)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _execute(self, pool: ThreadPoolExecutor) -> PipelineRunView:
        # `git status` runs in its own process while this one opens the metadata store.
        git_future = pool.submit(git_state, self.repository.root)
        metadata_store = self.stack.metadata_store
        store = metadata_store.store
        reap_stale_runs(store)  # runs of killed processes on this store become FAILED first
        # A rerun's cache lookups are answered by the previous run's records, its steps and
        # its DAG execution, twice over for runs recorded in between.
        recorder = MetadataRecorder(
            store, metadata_store.address, cache_window=2 * (len(self.graph.steps) + 1)
        )
        git = git_future.result()
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
            owner=current_owner().properties(),
        )
        logger.info(
            "Running pipeline %s on stack %s\n  run %s",
            self.graph.name,
            self.stack.name,
            self.run_id,
        )
        started = time.perf_counter()
        with _sigterm_as_interrupt():
            try:
                self._schedule(recorder, run, pool)
                recorder.finish_run(run, failed=self.failure is not None, error=self.failure or "")
            except BaseException as exc:
                # Interrupted (Ctrl-C, SIGTERM), a store failed, or a bug: leave no execution
                # looking as if it still runs.
                self._record_failure(recorder, run, exc)
                raise
        if self.failure is not None:
            logger.error("Run %s failed", self.run_id, extra={RUN_END: True})
            raise StepFailedError(f"{self.failure}; run {self.run_id} is recorded as failed", self.run_id)
        logger.info(
            "Run %s completed in %.2fs", self.run_id, time.perf_counter() - started, extra={RUN_END: True}
        )
        reader = MetadataReader(store, self.stack.artifact_store, code_root=self.repository.root)
        return reader.run(self.run_id)

    def _record_failure(self, recorder: MetadataRecorder, run: RunRecord, exc: BaseException) -> None:
        """Mark the run FAILED and its running steps failed/canceled, on a new connection if need be.

        A store that failed a write may refuse the next one on the same connection (sqlite:
        "transaction already open"). When even a new connection fails, the run stays RUNNING
        until the next command that reads runs finds its process gone (`stale_runs`).
        """
        canceled = isinstance(exc, KeyboardInterrupt)
        if isinstance(exc, RunTerminated):
            reason = "terminated (SIGTERM)"
        elif canceled:
            reason = "interrupted"
        else:
            reason = self.failure or f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        try:
            recorder.fail_run(run, reason, canceled)
            return
        except Exception:
            pass
        try:
            from ml_metadata.metadata_store import metadata_store

            config = self.stack.metadata_store.connection_config()
            fresh = MetadataRecorder(metadata_store.MetadataStore(config), self.stack.metadata_store.address)
            fresh.fail_run(run, reason, canceled)
        except Exception as again:
            logger.warning(
                "could not record run %s as failed (%s); the next command reading runs will",
                self.run_id,
                str(again).splitlines()[0] if str(again) else type(again).__name__,
            )

    def _schedule(self, recorder: MetadataRecorder, run: RunRecord, pool: ThreadPoolExecutor) -> None:
        pending = list(self.graph.steps)
        done: set[str] = set()
        running = self._running
        completed = False
        try:
            while True:
                progressed = True
                starting: list[_Running] = []
                while progressed and self.failure is None:
                    progressed = False
                    for spec in [s for s in pending if done.issuperset(s.upstream)]:
                        pending.remove(spec)
                        started = self._start(spec, recorder, run)
                        if started is None:
                            done.add(spec.name)
                            progressed = True
                        else:
                            starting.append(started)
                if not starting and not running:
                    break  # what is queued goes with the run's end, in its one transaction
                # One transaction for the round: outputs of the steps that finished, cache
                # hits, and the steps about to start, recorded RUNNING before they run.
                recorder.flush(run)
                for state in starting:
                    running[pool.submit(self._work, state.spec, state.inputs, state.uris)] = state
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                while finished:
                    for future in finished:
                        state = running[future]
                        if self._finish(state, future, recorder, run):
                            done.add(state.spec.name)
                        del running[future]
                    # Steps that ended meanwhile go into the same round, and its one commit.
                    finished = {future for future in running if future.done()}
            completed = True
        finally:
            # On an interrupt, do not wait for running steps; their threads end with the process.
            pool.shutdown(wait=completed, cancel_futures=True)
        for spec in pending:
            logger.info("  - %s not run", spec.name)

    def _start(self, spec: StepSpec, recorder: MetadataRecorder, run: RunRecord) -> _Running | None:
        """Reuse the cache (None: the step is done) or queue the step's start and return it,
        to be handed to a worker once the round is recorded."""
        inputs = {edge.name: self.produced[(edge.step, edge.output)] for edge in spec.inputs}
        key = cache_key(spec, {name: artifact.uri for name, artifact in inputs.items()})
        properties = {
            "cache_fingerprint": key,
            "parameters": json.dumps(spec.parameters),
            "inputs": spec.parameters,
            "step_name": spec.step_name,
            "step_source": spec.source,
        }
        if spec.enable_cache and self._may_be_cached(spec, key):
            hit = recorder.find_cached(key)
            if hit is not None and self._outputs_exist(spec, hit[1]):
                recorder.record_cached(run, spec.name, properties, hit[0], inputs, hit[1])
                for name, artifact in hit[1].items():
                    self.produced[(spec.name, name)] = artifact
                logger.info("  ↻ %s cached", spec.name)
                return None
        execution = recorder.start_step(run, spec.name, properties)
        self._run_keys.add(key)
        uris = {
            out.name: self.stack.artifact_store.artifact_uri(
                self.graph.name, self.run_id, spec.name, out.name
            )
            for out in spec.outputs
        }
        logger.info("  ▶ %s started", spec.name)
        return _Running(spec, execution, inputs, uris)

    def _may_be_cached(self, spec: StepSpec, key: str) -> bool:
        """False when no execution can have this cache key, so the store is not asked.

        The key covers the URIs of the inputs, and an output this run wrote lies under
        this run's own id: only a step of this run can have read it, and with the same
        key only if it is this step's twin (same code, parameters and inputs).
        """
        if key in self._run_keys:
            return True
        return not any((edge.step, edge.output) in self._written for edge in spec.inputs)

    def _outputs_exist(self, spec: StepSpec, outputs: dict[str, pb.Artifact]) -> bool:
        """A cache hit needs every output whole in this stack's artifact store."""
        uris = {name: artifact.uri for name, artifact in outputs.items()}
        reason = cache_miss_reason(self.stack.artifact_store, spec, uris)
        if reason is None:
            return True
        logger.warning("  cache of %s skipped: %s", spec.name, reason)
        return False

    def _work(
        self, spec: StepSpec, inputs: dict[str, pb.Artifact], uris: dict[str, str]
    ) -> list[WrittenOutput]:
        """Runs on a worker thread: stage inputs, run the step, publish output folders."""
        store = self.stack.artifact_store
        try:
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
        except OSError as exc:  # a full disk, a read-only folder, a file where a folder goes
            where = exc.filename or store.root_uri
            cause = exc.strerror or type(exc).__name__
            raise ZenMLKFError(
                f"step '{spec.name}': artifact store '{store.name}' cannot access {where} ({cause})"
            ) from None

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
            self._written.add((name, out_name))
        elapsed = time.time() - float(get_value(state.execution.custom_properties, "started_at"))
        logger.info("  ✓ %s completed in %.2fs", name, elapsed)
        return True

    def _fail(self, recorder: MetadataRecorder, run: RunRecord, state: _Running, message: str) -> None:
        recorder.fail_step(run, state.execution, message)
        if self.failure is None:
            self.failure = message


__all__ = ["LocalRun"]
