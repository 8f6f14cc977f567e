"""Runs a KFP cluster recorded read back through the post-run API like local runs.

The records are written as KFP's own driver and launcher write them (backend 2.5.0 and
2.14.0, see launcher_mlmd.py), with the artifacts the real step code produced in a real
bucket, and read through a stack registered on them with the CLI.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.kubeflow_readback import launcher_mlmd as kfp
from tests.kubeflow_readback.conftest import PREFIX, Cluster, Compiled, new_bucket, register_stack
from tests.remote import remote_servers as rs
from tests.remote.conftest import Project
from zenml_kf.metadata.kfp_records import graph_from_ir, k8s_name
from zenml_kf.metadata.views import ExecutionStatus

pytestmark = [
    pytest.mark.xdist_group("kubeflow-readback"),
    pytest.mark.filterwarnings("ignore:You are using a Python version:FutureWarning"),
]

DIGITS_STEPS = ["importer", "splitter", "trainer", "evaluator"]


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    """What the digits steps produce, computed here the way the example computes it."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, random_state=42, stratify=data.target
    )
    return {
        "images": data.data,
        "labels": data.target,
        "X_train": X_train,
        "X_test": X_test,
        "y_train": y_train,
        "y_test": y_test,
    }


def dag_state(cluster: Cluster, run: kfp.RecordedRun) -> int:
    [dag] = cluster.store.get_executions_by_id([run.dag_execution_id])
    return int(dag.last_known_state)


def graphs(*compiled: tuple[kfp.RecordedRun, Compiled]) -> Any:
    """A `graph_for_run` source: each run's graph rebuilt from its compiled pipeline spec."""
    by_run = {run.run_id: graph_from_ir(c.pipeline.ir) for run, c in compiled}
    return by_run.get


def test_latest_cluster_run_reads_back_like_a_local_run(cluster: Cluster, expected: dict[str, Any]) -> None:
    recorded = cluster.runs["digits"]
    run = cluster.repository().get_pipeline("digits_pipeline", stack=cluster.stack).runs[-1]
    assert run.id == recorded.run_id and run.recorded_by_kfp
    # KFP never marks the root DAG of a successful run complete; the steps say it is.
    assert dag_state(cluster, recorded) == 2  # RUNNING
    assert run.status == ExecutionStatus.COMPLETED
    assert run.pipeline_name == "digits-pipeline"  # its MLMD pipeline context, without the graph
    assert list(run.steps) == DIGITS_STEPS
    assert all(s.status == ExecutionStatus.COMPLETED for s in run.steps.values())

    trainer = run.get_step("trainer")
    assert trainer.parameters == {"gamma": 0.001, "C": 10.0}
    assert all(type(v) is float for v in trainer.parameters.values())
    for step in run.steps.values():
        assert isinstance(step.duration, float) and step.duration > 0, step
        assert step.logs_uri.endswith("/executor-logs") and "executor-logs" not in step.outputs

    importer, splitter = run.get_step("importer"), run.get_step("splitter")
    for name in ("images", "labels"):
        np.testing.assert_array_equal(importer.outputs[name].read(), expected[name])
    for name in ("X_train", "X_test", "y_train", "y_test"):
        np.testing.assert_array_equal(splitter.outputs[name].read(), expected[name])
    assert splitter.outputs["X_test"].uri.startswith(f"{cluster.bucket.scheme}://{cluster.bucket.name}/")
    model = trainer.output.read()
    accuracy = float(model.score(expected["X_test"], expected["y_test"]))
    evaluator = run.get_step("evaluator")
    assert evaluator.output.artifact_type == "system.Metrics"
    score = evaluator.output.read()
    assert type(score) is float and score == accuracy > 0.9
    assert set(evaluator.inputs) == {"X_test", "y_test", "model"}
    assert evaluator.inputs["model"].uri == trainer.output.uri
    assert evaluator.inputs["model"].producer_step.name == "trainer"


def test_the_compiled_graph_types_parameters_and_names_steps(
    cluster: Cluster, digits: Compiled, snake: Compiled
) -> None:
    source = graphs((cluster.runs["digits"], digits), (cluster.runs["snake"], snake))
    typed = cluster.reader(graph_for_run=source)
    run = typed.pipeline("digits_pipeline").runs[-1]
    assert run.pipeline_name == "digits_pipeline"
    assert run.get_step("splitter").parameters == {"test_size": 0.2, "seed": 42}
    assert type(run.get_step("splitter").parameters["seed"]) is int
    assert run.get_step("evaluator").output.data_type == "float"
    # Without the graph, MLMD's doubles stay doubles: 42 may have been a float.
    untyped = cluster.reader().pipeline("digits_pipeline").runs[-1]
    assert type(untyped.get_step("splitter").parameters["seed"]) is float

    snake_run = typed.pipeline("snake_pipeline").runs[-1]
    assert list(snake_run.steps) == ["load_data", "summarize_stats"]
    load = snake_run.get_step("load-data")
    assert load is snake_run.steps["load_data"] and load.task_name == "load-data"
    assert load.parameters == {
        "rows": 4,
        "scale": 2.0,
        "tags": ["a", "b"],
        "verbose": True,
        "options": {"x": 1},
    }
    assert [type(load.parameters[k]) for k in ("rows", "scale", "verbose")] == [int, float, bool]
    count = load.outputs["row_count"]
    assert count.data_type == "int" and count.read() == 4 and type(count.read()) is int


def test_snake_case_steps_are_found_by_python_name(cluster: Cluster) -> None:
    run = cluster.repository().get_pipeline("snake_pipeline", stack=cluster.stack).runs[-1]
    assert run.id == cluster.runs["snake"].run_id
    assert run.status == ExecutionStatus.COMPLETED
    # Nothing KFP records carries the Python name: without the graph, steps are tasks.
    assert list(run.steps) == ["load-data", "summarize-stats"]
    load = run.get_step("load_data")
    assert load is run.steps["load-data"] and run.get_step("summarize_stats").name == "summarize-stats"
    assert load.parameters == {
        "rows": 4.0,
        "scale": 2.0,
        "tags": ["a", "b"],
        "verbose": True,
        "options": {"x": 1},
    }
    np.testing.assert_array_equal(load.outputs["table"].read(), np.arange(12.0).reshape(4, 3) * 2.0)
    # Metrics artifacts carry only their numbers: a scalar is read as its JSON says (an int
    # here), a dict (pickled, it holds a NaN) by the container materializer.
    count = load.outputs["row_count"]
    assert count.metadata == {"row_count": 4.0} and count.read() == 4 and type(count.read()) is int
    stats = run.get_step("summarize_stats").output
    assert stats.metadata == {"mean": 11.0, "spread": "NaN"}
    value = stats.read()
    assert value["mean"] == 11.0 and math.isnan(value["spread"])
    with pytest.raises(KeyError, match="its steps are: load-data, summarize-stats"):
        run.get_step("train")


def test_describe_prints_a_cluster_run(cluster: Cluster) -> None:
    run_id = cluster.runs["digits"].run_id
    out = cluster.project.ok("runs", "describe", run_id, "--stack", cluster.stack).out
    assert run_id in out and "completed" in out
    for step in DIGITS_STEPS:
        assert step in out
    assert "gamma=0.001" in out


def test_a_failed_step_fails_the_run_whatever_the_dag_says(outcomes: Cluster, digits: Compiled) -> None:
    reader = outcomes.reader()
    # The first task to finish failed: the launcher's count marks the root DAG COMPLETE.
    first_failed = outcomes.runs["importer_failed"]
    assert dag_state(outcomes, first_failed) == 3  # COMPLETE
    run = reader.run(first_failed.run_id)
    assert run.status == ExecutionStatus.FAILED
    assert {n: s.status for n, s in run.steps.items()} == {"importer": ExecutionStatus.FAILED}

    trainer_failed = outcomes.runs["trainer_failed"]
    assert dag_state(outcomes, trainer_failed) == 4  # FAILED
    assert reader.run(trainer_failed.run_id).status == ExecutionStatus.FAILED
    # With the graph, the step that never started shows too.
    typed = outcomes.reader(graph_for_run=graphs((trainer_failed, digits))).run(trainer_failed.run_id)
    statuses = {n: s.status.value for n, s in typed.steps.items()}
    assert statuses == {
        "importer": "completed",
        "splitter": "completed",
        "trainer": "failed",
        "evaluator": "not run",
    }
    assert typed.status == ExecutionStatus.FAILED

    running = outcomes.runs["running"]
    assert dag_state(outcomes, running) == 2
    still = reader.run(running.run_id)
    assert still.status == ExecutionStatus.RUNNING
    assert still.get_step("trainer").status == ExecutionStatus.RUNNING
    assert still.get_step("trainer").duration is None


def test_a_status_source_decides_when_it_knows(outcomes: Cluster) -> None:
    first = outcomes.runs["first"].run_id
    asked: list[str] = []

    def kfp_api(run_id: str) -> ExecutionStatus | None:
        asked.append(run_id)
        return ExecutionStatus.CANCELED if run_id == first else None

    reader = outcomes.reader(run_status=kfp_api)
    assert reader.run(first).status == ExecutionStatus.CANCELED
    assert reader.run(outcomes.runs["trainer_failed"].run_id).status == ExecutionStatus.FAILED  # derived
    assert first in asked


def test_cached_steps_read_the_original_artifacts(outcomes: Cluster, expected: dict[str, Any]) -> None:
    reader = outcomes.reader()
    first, cached = outcomes.runs["first"], outcomes.runs["cached"]
    run = reader.run(cached.run_id)
    # The driver publishes cache hits itself; no launcher runs, so nothing updates the DAG.
    assert dag_state(outcomes, cached) == 2
    assert run.status == ExecutionStatus.COMPLETED
    assert all(s.is_cached for s in run.steps.values())
    trainer = run.get_step("trainer")
    assert trainer.cached_execution_id == str(first.executions["trainer"])
    assert trainer.output.uri == first.output_uris["trainer"]["output"]
    assert trainer.output.producer_step.execution_id == first.executions["trainer"]
    np.testing.assert_array_equal(run.get_step("splitter").outputs["y_test"].read(), expected["y_test"])
    assert run.get_step("evaluator").output.read() > 0.9


def test_records_follow_the_kfp_launcher(cluster: Cluster) -> None:
    """The fixture's own records, checked against the properties client.go writes."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd

    store, recorded = cluster.store, cluster.runs["digits"]
    [run_ctx] = [c for c in store.get_contexts_by_type("system.PipelineRun") if c.name == recorded.run_id]
    [parent] = store.get_parent_contexts_by_context(run_ctx.id)
    assert parent.name == "digits-pipeline"
    root = f"{cluster.bucket.scheme}://{cluster.bucket.name}/{PREFIX}"
    assert (
        run_ctx.custom_properties["pipeline_root"].string_value == f"{root}/digits-pipeline/{recorded.run_id}"
    )
    assert run_ctx.custom_properties["resource_name"].string_value == "run-resource"
    assert "pipeline_config" not in run_ctx.custom_properties
    [dag] = store.get_executions_by_id([recorded.dag_execution_id])
    assert dag.name == f"run/{recorded.run_id}" and dag.custom_properties["task_name"].string_value == ""
    [splitter] = store.get_executions_by_id([recorded.executions["splitter"]])
    props = splitter.custom_properties
    assert props["task_name"].string_value == props["display_name"].string_value == "splitter"
    assert props["parent_dag_id"].int_value == dag.id
    assert props["inputs"].struct_value.fields["seed"].number_value == 42.0
    assert props["pod_name"].string_value and len(props["cache_fingerprint"].string_value) == 64
    [evaluator] = store.get_executions_by_id([recorded.executions["evaluator"]])
    events = store.get_events_by_execution_ids([evaluator.id])
    outputs = {e.path.steps[0].key: e.artifact_id for e in events if e.type == mlmd.Event.OUTPUT}
    assert set(outputs) == {"output", "executor-logs"}
    [metric] = store.get_artifacts_by_id([outputs["output"]])
    assert set(metric.custom_properties) == {"display_name", "output", "store_session_info"}


def test_minio_uris_read_through_an_s3_store_with_its_endpoint(
    project: Project, moto_server: rs.Server, snake: Compiled, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from zenml_kf.artifact_stores._remote import ArtifactStoreError
    from zenml_kf.artifact_stores.s3 import S3ArtifactStore, S3ArtifactStoreConfig

    db = tmp_path_factory.mktemp("minio") / "mlmd.db"
    bucket, writer = new_bucket("s3", moto_server)
    # KFP's default pipeline root is minio://mlpipeline/v2/artifacts (here on moto's bucket).
    root = f"minio://{bucket.name}/{PREFIX}"
    recorded = kfp.record_run(kfp.open_store(db), "2.5", snake.pipeline, snake.pods, writer, root)
    register_stack(project, "minio", bucket, PREFIX, ["--flavor", "sqlite", "--uri", str(db)])
    run = project.repository().get_run(recorded.run_id, stack="minio")
    table = run.get_step("load_data").outputs["table"]
    assert table.uri.startswith(f"minio://{bucket.name}/{PREFIX}/snake-pipeline/")
    np.testing.assert_array_equal(table.read(), np.arange(12.0).reshape(4, 3) * 2.0)

    # Without an endpoint the store would ask AWS: the URI is not its own.
    aws = S3ArtifactStore("aws", "s3", S3ArtifactStoreConfig(bucket=bucket.name, prefix=PREFIX), project.root)
    assert not aws.holds(table.uri)
    with pytest.raises(ArtifactStoreError, match="set endpoint_url of artifact store 'aws'"):
        aws.key_of(table.uri)


@pytest.mark.parametrize(
    "name", ["load_data", "LoadData", "a__b", "_x_", "trainer-2", "Étape 1", "x.y/z", "--a--", "9lives"]
)
def test_task_names_follow_kfps_rule(name: str) -> None:
    from kfp.dsl.utils import maybe_rename_for_k8s

    assert k8s_name(name) == maybe_rename_for_k8s(name)


def test_the_graph_is_rebuilt_from_the_compiled_spec(digits: Compiled, snake: Compiled) -> None:
    for compiled in (digits, snake):
        rebuilt = graph_from_ir(compiled.pipeline.ir)
        assert rebuilt.name == compiled.graph.name
        fields = {"name", "source", "parameters", "parameter_types", "inputs", "outputs", "code_hash"}
        assert [s.model_dump(include=fields) for s in rebuilt.steps] == [
            s.model_dump(include=fields) for s in compiled.graph.steps
        ]
