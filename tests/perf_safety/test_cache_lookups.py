"""A local run skips the cache lookup of a step fed by an output it wrote, and still finds
every hit the store's query finds.

Reruns of a cached chain, a hit older than the previous run, another pipeline with the
same steps and a damaged output in the middle of a chain. Each run is a `zenml run`
subprocess, and records are read back in a fresh process.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import new_project, python_json, run_cli

CHAIN = textwrap.dedent(
    """
    import os

    from zenml_kf import BaseStepConfig, pipeline, step


    class Seed(BaseStepConfig):
        seed: int = 1


    @step
    def first(config: Seed) -> int:
        return config.seed


    @step
    def second(x: int) -> int:
        return x * 10


    @step
    def third(x: int) -> int:
        return x + 1


    def chain(first, second, third):
        third(second(first()))


    seed = Seed(seed=int(os.environ.get("SEED", "1")))
    p = pipeline(name="chain")(chain)(first=first(config=seed), second=second(), third=third())
    other = pipeline(name="other")(chain)(first=first(config=seed), second=second(), third=third())
    """
)

READ_BACK = textwrap.dedent(
    """
    import json, sys
    from zenml_kf import Repository

    repo = Repository()
    print(json.dumps({
        name: [
            {
                step_name: {
                    "status": step.status.value,
                    "id": step.execution_id,
                    "reused": step.cached_execution_id,
                    "outputs": {out: art.uri for out, art in step.outputs.items()},
                }
                for step_name, step in run.steps.items()
            }
            for run in repo.get_pipeline(name).runs
        ]
        for name in sys.argv[1:]
    }))
    """
)


def _runs(root: Path, *pipelines: str) -> dict[str, list[dict[str, dict[str, object]]]]:
    return python_json(root, "-c", READ_BACK, *pipelines, timeout=60)  # type: ignore[no-any-return]


def _run(root: Path, target: str, seed: int) -> str:
    result = run_cli("run", f"chain.py:{target}", cwd=root, env={"SEED": str(seed)})
    assert result.code == 0, result
    return result.err


def test_every_rerun_reuses_the_executions_that_ran_not_the_hits_that_reused_them(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    _run(root, "p", 1)
    assert _run(root, "p", 1).count(" cached") == 3
    assert _run(root, "p", 1).count(" cached") == 3  # asks the previous run, itself all hits
    ran, *reruns = _runs(root, "chain")["chain"]
    assert {s["status"] for s in ran.values()} == {"completed"}
    for rerun in reruns:
        assert rerun == {
            name: {
                "status": "cached",
                "id": rerun[name]["id"],
                "reused": str(step["id"]),
                "outputs": step["outputs"],
            }
            for name, step in ran.items()
        }


def test_a_hit_the_previous_run_does_not_know_is_still_found(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    _run(root, "p", 1)
    assert _run(root, "p", 2).count(" cached") == 0  # new seed: every step runs
    assert _run(root, "p", 1).count(" cached") == 3  # the run before the previous one
    runs = _runs(root, "chain")["chain"]
    assert [step["reused"] for step in runs[2].values()] == [str(step["id"]) for step in runs[0].values()]


def test_another_pipeline_with_the_same_steps_reuses_their_outputs(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    _run(root, "p", 1)
    assert _run(root, "other", 1).count(" cached") == 3  # no previous run of its own to ask
    found = _runs(root, "chain", "other")
    assert [s["reused"] for s in found["other"][0].values()] == [
        str(s["id"]) for s in found["chain"][0].values()
    ]


def test_a_damaged_output_reruns_its_step_and_every_step_after_it(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"chain.py": CHAIN})
    _run(root, "p", 1)
    [ran] = _runs(root, "chain")["chain"]
    uri = Path(str(ran["second"]["outputs"]["output"]))  # type: ignore[index]
    for file in (f for f in uri.rglob("*") if f.is_file() and not f.name.startswith(".")):
        file.write_bytes(b"")
    err = _run(root, "p", 1)
    assert "first cached" in err
    assert "second started" in err and "third started" in err, err
    _, rerun = _runs(root, "chain")["chain"]
    assert rerun["first"]["status"] == "cached"
    assert rerun["second"]["status"] == rerun["third"]["status"] == "completed"
    assert rerun["third"]["outputs"] != ran["third"]["outputs"]
    # The repaired chain is what the next rerun reuses.
    assert _run(root, "p", 1).count(" cached") == 3
    last = _runs(root, "chain")["chain"][-1]
    assert last["third"]["reused"] == str(rerun["third"]["id"])


COUNT_QUERIES = textwrap.dedent(
    """
    import json, sys
    from ml_metadata.metadata_store import metadata_store

    asked = []
    plain = metadata_store.MetadataStore.get_executions

    def get_executions(self, list_options=None):
        asked.append("filter" if list_options is not None and list_options.filter_query else "newest")
        return plain(self, list_options)

    metadata_store.MetadataStore.get_executions = get_executions
    sys.path.insert(0, ".")
    import chain

    getattr(chain, sys.argv[1]).run()
    print(json.dumps(asked))
    """
)


def test_a_rerun_asks_the_store_one_filter_query_and_reads_the_newest_records_once(tmp_path: Path) -> None:
    """MLMD parses each filter query for about a millisecond: after the first hit, the
    run's later lookups are answered from the store's newest executions, read once."""
    root = new_project(tmp_path, {"chain.py": CHAIN})
    # The first run: its first step misses; the steps after it read outputs it wrote and
    # ask nothing. (One more filter query finds runs of killed processes.)
    first = python_json(root, "-c", COUNT_QUERIES, "p")
    assert first.count("filter") == 2 and "newest" not in first, first
    rerun = python_json(root, "-c", COUNT_QUERIES, "p")
    assert rerun.count("filter") == 2 and rerun.count("newest") == 1, rerun
    again = python_json(root, "-c", COUNT_QUERIES, "other")  # hits through the reruns' records
    assert again.count("filter") == 2 and again.count("newest") == 1, again
    runs = _runs(root, "chain", "other")
    ran = runs["chain"][0]
    for run in (runs["chain"][1], runs["other"][0]):
        assert [step["reused"] for step in run.values()] == [str(step["id"]) for step in ran.values()]


def test_the_newest_records_never_answer_with_an_execution_that_is_gone_or_not_complete(
    tmp_path: Path,
) -> None:
    """Records of a rerun whose original run was deleted, or that point at a failed
    execution, fall back to the filter query, which finds the completed one."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    from zenml_kf.metadata.cache_index import CacheIndex
    from zenml_kf.metadata.values import set_value

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "store.db")
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_id = store.put_execution_type(pb.ExecutionType(name="system.ContainerExecution"))

    def put(state: int, fingerprint: str, reused: int = 0) -> int:
        execution = pb.Execution(type_id=type_id, last_known_state=state)
        set_value(execution.custom_properties, "cache_fingerprint", fingerprint)
        if reused:
            set_value(execution.custom_properties, "cached_execution_id", str(reused))
        [execution_id] = store.put_executions([execution])
        return execution_id

    original = {key: put(pb.Execution.COMPLETE, key) for key in ("a", "gone", "failed")}
    failed = put(pb.Execution.FAILED, "failed")
    put(pb.Execution.CACHED, "a", reused=original["a"])
    put(pb.Execution.CACHED, "gone", reused=10_000)  # its original run was deleted
    put(pb.Execution.CACHED, "failed", reused=failed)  # cannot happen, must not matter

    index = CacheIndex(store, window=10)
    found = index.newest_complete("a")  # a filter query, then the newest records are read
    assert found is not None and found.id == original["a"]
    for key in ("gone", "failed"):
        found = index.newest_complete(key)
        assert found is not None and found.id == original[key]
    assert index.newest_complete("never") is None
