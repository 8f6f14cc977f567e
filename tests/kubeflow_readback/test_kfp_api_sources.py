"""A kubeflow stack reads its cluster runs with what only the KFP API knows: the run's
state (KFP's root DAG execution in MLMD is not reliable) and the pipeline spec it ran
(Python step names, typed parameters). MLMD is served over gRPC, as a cluster's
metadata-grpc-service serves it; the KFP API is the loopback contract server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubeflow.conftest import kfp_server  # noqa: F401  (fixture)
from tests.kubeflow.kfp_api_server import KFPServer
from tests.kubeflow_readback import launcher_mlmd as kfp
from tests.kubeflow_readback.conftest import PREFIX, Compiled, new_bucket
from tests.remote import remote_servers as rs
from tests.remote.conftest import Bucket, Project, unique


@pytest.fixture
def grpc_store(tmp_path: Path) -> Iterator[tuple[rs.Server, object]]:
    db = tmp_path / "mlmd.db"
    server = rs.start_mlmd_grpc(db)
    try:
        yield server, kfp.open_store(db, server.port)
    finally:
        server.stop()


def test_run_state_and_step_names_come_from_the_kfp_api(
    kfp_server: KFPServer,  # noqa: F811
    grpc_store: tuple[rs.Server, object],
    project: Project,
    digits: Compiled,
    moto_server: rs.Server,
) -> None:
    import kfp as kfp_sdk

    from zenml_kf.metadata.views import ExecutionStatus

    mlmd_server, store = grpc_store
    client = kfp_sdk.Client(host=kfp_server.url)
    uploaded = client.upload_pipeline(str(digits.pipeline.path), pipeline_name="digits_pipeline")
    [version] = client.list_pipeline_versions(uploaded.pipeline_id).pipeline_versions
    experiment = client.create_experiment("digits_pipeline")
    kfp_server.script_run(["FAILED"])  # KFP says the run failed (e.g. its exit handler did)
    created = client.run_pipeline(
        experiment.experiment_id,
        "digits",
        pipeline_id=uploaded.pipeline_id,
        version_id=version.pipeline_version_id,
    )
    bucket, writer = new_bucket("s3", moto_server)
    root = f"s3://{bucket.name}/{PREFIX}"
    # Every step succeeded as far as MLMD knows.
    kfp.record_run(
        store,
        "2.5",
        digits.pipeline,
        digits.pods,
        writer,
        root,
        run_id=created.run_id,
        endpoint=moto_server.endpoint,
    )

    name = register_kubeflow_stack(project, "kf", mlmd_server, bucket, kfp_server.url)

    run = project.repository().get_run(created.run_id, stack=name)
    assert run.status == ExecutionStatus.FAILED  # from the KFP API, not the steps
    assert all(s.status == ExecutionStatus.COMPLETED for s in run.steps.values())
    assert list(run.steps) == ["importer", "splitter", "trainer", "evaluator"]
    assert run.get_step("splitter").parameters == {"test_size": 0.2, "seed": 42}
    assert isinstance(run.get_step("splitter").parameters["seed"], int)  # typed by the compiled spec
    assert 0.9 < run.get_step("evaluator").output.read() <= 1.0

    described = project.cli("runs", "describe", created.run_id, "--stack", name)
    assert described.code == 0, described
    assert "failed" in described.out and "trainer" in described.out


def test_without_the_kfp_api_runs_still_read_from_mlmd(
    grpc_store: tuple[rs.Server, object], project: Project, digits: Compiled, moto_server: rs.Server
) -> None:
    from zenml_kf.metadata.views import ExecutionStatus

    mlmd_server, store = grpc_store
    bucket, writer = new_bucket("s3", moto_server)
    recorded = kfp.record_run(
        store,
        "2.14",
        digits.pipeline,
        digits.pods,
        writer,
        f"s3://{bucket.name}/{PREFIX}",
        endpoint=moto_server.endpoint,
    )
    unreachable = f"http://127.0.0.1:{rs.free_port()}"
    name = register_kubeflow_stack(project, "kfdown", mlmd_server, bucket, unreachable)
    run = project.repository().get_run(recorded.run_id, stack=name)
    assert run.status == ExecutionStatus.COMPLETED  # derived from the steps
    assert run.get_step("trainer").status == ExecutionStatus.COMPLETED


def register_kubeflow_stack(project: Project, prefix: str, mlmd: rs.Server, bucket: Bucket, host: str) -> str:
    """A kubeflow stack on the cluster's MLMD (over gRPC) and bucket, as a user registers it."""
    name = unique(prefix)
    project.ok(
        "metadata-store", "register", name, "--flavor", "grpc", "--host", rs.HOST, "--port", str(mlmd.port)
    )
    project.ok("artifact-store", "register", name, *bucket.register_args(PREFIX))
    project.ok("orchestrator", "register", name, "--flavor", "kubeflow", "--host", host)
    project.ok("stack", "register", name, "-o", name, "-a", name, "-m", name)
    return name
