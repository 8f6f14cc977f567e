"""What the KFP API knows of a cluster run that its ML Metadata does not: the run's state
(the root DAG execution's is unreliable, see zenml_kf/metadata/views.py) and the pipeline
spec it ran (which names the steps and types their parameters).

The post-run API asks these lazily; reading runs must still work when the KFP API
cannot be reached, so a failure to connect is reported once and the views fall back to
what MLMD says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zenml_kf.log import get_logger
from zenml_kf.orchestrators.kubeflow.config import KubeflowOrchestratorConfig

if TYPE_CHECKING:
    from zenml_kf.metadata.views import ExecutionStatus
    from zenml_kf.orchestrators.kubeflow.connection import KFPConnection
    from zenml_kf.pipelines.graph import PipelineGraph

# V2beta1RuntimeState -> our status (backend/api/v2beta1/run.proto, KFP 2.5.0).
KFP_STATE_STATUS = {
    "SUCCEEDED": "completed",
    "SKIPPED": "completed",
    "FAILED": "failed",
    "CANCELING": "canceled",
    "CANCELED": "canceled",
    "PENDING": "running",
    "RUNNING": "running",
    "PAUSED": "running",
}


class KFPRunSources:
    def __init__(self, config: KubeflowOrchestratorConfig) -> None:
        self._config = config
        self._connection: KFPConnection | None = None
        self._unreachable = False
        self._runs: dict[str, Any] = {}

    def run_status(self, run_id: str) -> ExecutionStatus | None:
        from zenml_kf.metadata.views import ExecutionStatus

        run = self._run(run_id)
        state = KFP_STATE_STATUS.get(str(getattr(run, "state", "") or ""))
        return ExecutionStatus(state) if state else None

    def graph_for_run(self, run_id: str) -> PipelineGraph | None:
        from zenml_kf.metadata.kfp_records import graph_from_ir

        run = self._run(run_id)
        if run is None:
            return None
        spec = run.pipeline_spec
        reference = run.pipeline_version_reference
        if not spec and reference is not None and self._connection is not None:
            conn = self._connection
            version = self._quietly(
                conn.client.get_pipeline_version, reference.pipeline_id, reference.pipeline_version_id
            )
            spec = getattr(version, "pipeline_spec", None)
        if not isinstance(spec, dict):
            return None
        ir = spec.get("pipeline_spec", spec)  # a spec with a platform part nests the IR
        try:
            return graph_from_ir(ir)
        except Exception:  # not compiled by zenml-kf: MLMD's names then
            return None

    def _run(self, run_id: str) -> Any:
        if run_id not in self._runs:
            connection = self._connect()
            self._runs[run_id] = (
                self._quietly(connection.client.get_run, run_id) if connection is not None else None
            )
        return self._runs[run_id]

    def _connect(self) -> KFPConnection | None:
        from zenml_kf.orchestrators.kubeflow.connection import KFPConnection, KubeflowError

        if self._connection is None and not self._unreachable:
            try:
                self._connection = KFPConnection(self._config)
            except KubeflowError as exc:
                self._unreachable = True
                get_logger().warning("run states come from ML Metadata only: %s", exc)
        return self._connection

    def _quietly(self, fn: Any, *args: Any) -> Any:
        """One API call; a run KFP no longer has (or any error) is None, not a failure."""
        from zenml_kf.orchestrators.kubeflow.connection import KubeflowError

        assert self._connection is not None
        try:
            return self._connection.call("reading a run", fn, *args)
        except KubeflowError:
            return None


def kfp_states(status: str) -> list[str]:
    """The KFP states that read back as our run `status`: what a KFP filter on it asks for."""
    return [state for state, ours in KFP_STATE_STATUS.items() if ours == status]
