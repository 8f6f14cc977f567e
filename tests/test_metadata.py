"""MLMD records follow KFP's launcher conventions, so one reader serves local and cluster runs."""

from __future__ import annotations

import json

from ml_metadata.proto import metadata_store_pb2 as pb

from tests.test_local_run import make
from zenml_kf import Repository
from zenml_kf.metadata.values import get_value


def props(node) -> dict:
    return {k: get_value(node.custom_properties, k) for k in node.custom_properties}


def test_contexts_executions_artifacts_and_events(repo: Repository) -> None:
    run = make(amount=4).run()
    store = repo.get_stack().metadata_store.store

    pipeline_ctx = store.get_context_by_type_and_name("system.Pipeline", "chain")
    run_ctx = store.get_context_by_type_and_name("system.PipelineRun", run.id)
    assert pipeline_ctx is not None and run_ctx is not None
    assert [c.id for c in store.get_parent_contexts_by_context(run_ctx.id)] == [pipeline_ctx.id]
    run_props = props(run_ctx)
    assert run_props["resource_name"] == run.id
    assert run_props["pipeline_root"] == repo.get_stack().artifact_store.root_uri
    assert json.loads(run_props["pipeline_config"])["name"] == "chain"
    assert json.loads(run_props["stack"])["name"] == "default"
    assert "git_commit" in run_props and "git_dirty" in run_props

    executions = store.get_executions_by_context(run_ctx.id)
    types = {t.id: t.name for t in store.get_execution_types()}
    [dag] = [e for e in executions if types[e.type_id] == "system.DAGExecution"]
    assert dag.last_known_state == pb.Execution.COMPLETE
    steps = {get_value(e.custom_properties, "task_name"): e for e in executions if e.id != dag.id}
    assert set(steps) == {"numbers", "add", "total"}
    add = steps["add"]
    assert types[add.type_id] == "system.ContainerExecution"
    assert add.last_known_state == pb.Execution.COMPLETE
    add_props = props(add)
    assert add_props["display_name"] == "add"
    assert add_props["parent_dag_id"] == dag.id
    assert len(add_props["cache_fingerprint"]) == 64
    assert json.loads(add_props["parameters"]) == {"amount": 4}
    assert add_props["inputs"] == {"amount": 4}

    events = store.get_events_by_execution_ids([add.id])
    by_kind = {(e.type, e.path.steps[0].key) for e in events}
    assert by_kind == {(pb.Event.INPUT, "n"), (pb.Event.OUTPUT, "output")}
    [out_event] = [e for e in events if e.type == pb.Event.OUTPUT]
    [artifact] = store.get_artifacts_by_id([out_event.artifact_id])
    art_types = {t.id: t.name for t in store.get_artifact_types()}
    assert art_types[artifact.type_id] == "system.Metrics"  # an int: a scalar metric
    assert artifact.state == pb.Artifact.LIVE
    art_props = props(artifact)
    assert art_props["display_name"] == "output"
    assert art_props["data_type"] == "int"
    assert art_props["materializer"].endswith(":BuiltInMaterializer")
    assert art_props["value"] == 9
    numbers_out = store.get_events_by_execution_ids([steps["numbers"].id])
    arr_id = next(e.artifact_id for e in numbers_out if e.path.steps[0].key == "arr")
    [arr] = store.get_artifacts_by_id([arr_id])
    assert art_types[arr.type_id] == "system.Dataset"
    assert props(arr)["shape"] == "(5,)"


def test_cache_hit_is_a_cached_execution_pointing_at_the_original(repo: Repository) -> None:
    first = make().run()
    second = make().run()
    store = repo.get_stack().metadata_store.store
    original, cached = store.get_executions_by_id(
        [first.get_step("add").execution_id, second.get_step("add").execution_id]
    )
    assert cached.last_known_state == pb.Execution.CACHED
    assert get_value(cached.custom_properties, "cached_execution_id") == str(original.id)
    assert get_value(cached.custom_properties, "cache_fingerprint") == get_value(
        original.custom_properties, "cache_fingerprint"
    )
