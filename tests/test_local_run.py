"""Running on the local stack: results, parallelism, failures, caching and the post-run API."""

from __future__ import annotations

import threading
import time
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import ClassifierMixin
from sklearn.dummy import DummyClassifier

from zenml_kf import BaseMaterializer, BaseStepConfig, Output, Repository, pipeline, step
from zenml_kf.exceptions import StepFailedError
from zenml_kf.metadata.views import ExecutionStatus


class AddCfg(BaseStepConfig):
    amount: int = 1


CALLS: list[str] = []


@step
def numbers() -> Output(arr=np.ndarray, n=int):
    CALLS.append("numbers")
    return np.arange(5.0), 5


@step
def add(n: int, config: AddCfg) -> int:
    CALLS.append("add")
    return n + config.amount


@step
def total(arr: np.ndarray, k: int) -> float:
    CALLS.append("total")
    return float(arr.sum() * k)


@pipeline
def chain(numbers, add, total):
    arr, n = numbers()
    k = add(n)
    total(arr=arr, k=k)


def make(amount: int = 1):
    return chain(numbers=numbers(), add=add(config=AddCfg(amount=amount)), total=total())


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def test_run_returns_the_run_with_steps_outputs_and_values(repo: Repository) -> None:
    run = make(amount=2).run()
    assert run.status == ExecutionStatus.COMPLETED
    assert list(run.steps) == ["numbers", "add", "total"]
    total_step = run.get_step("total")
    assert total_step.output.read() == 10.0 * 7
    assert total_step.status == "completed" and not total_step.is_cached
    assert run.get_step("add").parameters == {"amount": 2}
    arr = run.get_step("numbers").outputs["arr"]
    assert np.array_equal(arr.read(), np.arange(5.0))
    assert arr.data_type == "numpy.ndarray"
    assert arr.materializer.endswith(":NumpyMaterializer")
    assert arr.producer_step.name == "numbers"
    assert set(total_step.inputs) == {"arr", "k"}
    assert total_step.inputs["k"].read() == 7
    assert total_step.duration is not None and total_step.duration >= 0
    # The same run through the repository's post-run API.
    latest = Repository().get_pipeline("chain").runs[-1]
    assert latest.id == run.id and latest.get_step("total").output.read() == 70.0


def test_second_run_is_fully_cached_and_reuses_artifacts(repo: Repository) -> None:
    first = make().run()
    CALLS.clear()
    second = make().run()
    assert CALLS == []
    assert all(s.is_cached for s in second.steps.values())
    assert second.get_step("total").output.uri == first.get_step("total").output.uri
    assert second.get_step("total").output.producer_step.execution_id == first.get_step("total").execution_id
    assert second.get_step("total").output.read() == first.get_step("total").output.read()


def test_changing_a_parameter_reruns_that_step_and_its_descendants_only(repo: Repository) -> None:
    make(amount=1).run()
    CALLS.clear()
    run = make(amount=3).run()
    assert sorted(CALLS) == ["add", "total"]
    assert run.get_step("numbers").is_cached
    assert not run.get_step("add").is_cached and not run.get_step("total").is_cached
    assert run.get_step("total").output.read() == 10.0 * 8


def test_enable_cache_false_on_step_or_pipeline(repo: Repository) -> None:
    @step(enable_cache=False)
    def uncached(n: int) -> int:
        CALLS.append("uncached")
        return n

    @pipeline
    def p1(numbers, u):
        _, n = numbers()
        u(n)

    p1(numbers=numbers(), u=uncached()).run()
    CALLS.clear()
    run = p1(numbers=numbers(), u=uncached()).run()
    assert CALLS == ["uncached"]
    assert run.get_step("numbers").is_cached

    @pipeline(enable_cache=False)
    def p2(numbers, add):
        _, n = numbers()
        add(n)

    p2(numbers=numbers(), add=add()).run()
    CALLS.clear()
    p2(numbers=numbers(), add=add()).run()
    assert sorted(CALLS) == ["add", "numbers"]


def test_cache_is_not_used_when_its_artifacts_were_deleted(repo: Repository) -> None:
    import shutil

    first = make().run()
    shutil.rmtree(first.get_step("add").output.uri)
    CALLS.clear()
    second = make().run()
    assert sorted(CALLS) == ["add", "total"]
    assert second.get_step("add").output.read() == 6


def test_every_execution_writes_fresh_uris(repo: Repository) -> None:
    @pipeline(enable_cache=False)
    def again(numbers):
        numbers()

    a = again(numbers=numbers()).run()
    b = again(numbers=numbers()).run()
    uris_a = {o.uri for o in a.get_step("numbers").outputs.values()}
    uris_b = {o.uri for o in b.get_step("numbers").outputs.values()}
    assert uris_a.isdisjoint(uris_b)
    assert all(Path(u).is_dir() for u in uris_a | uris_b)


@step
def explode(n: int) -> int:
    CALLS.append("explode")
    raise ValueError(f"bad value {n}")


@step
def after(k: int) -> int:
    CALLS.append("after")
    return k


def test_failing_step_fails_the_run_publishes_nothing_and_stops_downstream(repo: Repository) -> None:
    @pipeline
    def failing(numbers, explode, after):
        _, n = numbers()
        after(explode(n))

    with pytest.raises(StepFailedError, match=r"step 'explode' raised ValueError: bad value 5") as info:
        failing(numbers=numbers(), explode=explode(), after=after()).run()
    assert "after" not in CALLS
    run = Repository().get_run(info.value.run_id)
    assert run.status == ExecutionStatus.FAILED
    failed = run.get_step("explode")
    assert failed.status == ExecutionStatus.FAILED
    assert failed.outputs == {}
    assert "bad value 5" in failed.error
    assert run.get_step("after").status == ExecutionStatus.NOT_RUN
    assert run.get_step("numbers").status == ExecutionStatus.COMPLETED
    # No output folder of the failed step was left behind, staged or published.
    step_dir = Path(repo.get_stack().artifact_store.root_uri) / "failing" / run.id / "explode"
    assert not step_dir.exists() or not any(step_dir.iterdir())


def test_output_of_the_wrong_type_fails_the_step_clearly(repo: Repository) -> None:
    @step
    def liar() -> int:
        return "not an int"  # type: ignore[return-value]

    @pipeline
    def p(liar):
        liar()

    with pytest.raises(StepFailedError, match="output 'output' of step 'liar' is a str but is annotated int"):
        p(liar=liar()).run()


SLEEP = 0.4
WINDOWS: list[tuple[str, float, float]] = []
LOCK = threading.Lock()


@step
def start() -> int:
    return 1


def _sleeper(i: int):
    @step(name=f"sleep{i}")
    def sleeper(x: int) -> int:
        began = time.perf_counter()
        time.sleep(SLEEP)
        with LOCK:
            WINDOWS.append((f"s{i}", began, time.perf_counter()))
        return x + i

    return sleeper


SLEEPERS = [_sleeper(i) for i in range(4)]


@step
def join(a: int, b: int, c: int, d: int) -> int:
    return a + b + c + d


@pipeline
def fan(start, s0, s1, s2, s3, join):
    x = start()
    join(s0(x), s1(x), s2(x), s3(x))


def _max_overlap() -> int:
    events = sorted([(b, 1) for _, b, _ in WINDOWS] + [(e, -1) for _, _, e in WINDOWS])
    level = best = 0
    for _, delta in events:
        level += delta
        best = max(best, level)
    return best


def _fan() -> object:
    return fan(start(), *(s() for s in SLEEPERS), join())


def test_independent_steps_run_in_parallel(repo: Repository) -> None:
    WINDOWS.clear()
    run = _fan().run()  # type: ignore[attr-defined]
    assert run.get_step("join").output.read() == 4 + 0 + 1 + 2 + 3
    assert _max_overlap() == 4


def test_worker_count_bounds_parallelism(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENML_KF_ORCHESTRATOR_MAX_WORKERS", "2")
    WINDOWS.clear()
    from zenml_kf.pipelines.config_file import RunConfig

    _fan().with_config(RunConfig(enable_cache=False)).run()  # type: ignore[attr-defined]
    assert _max_overlap() == 2


def test_run_records_git_commit_and_dirty_tree(repo: Repository) -> None:
    import subprocess

    from tests.conftest import _clean_env

    env = _clean_env()
    subprocess.run(["git", "add", "-A"], cwd=repo.root, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo.root, check=True, env=env)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo.root, check=True, capture_output=True, text=True
    ).stdout.strip()
    clean = make().run()
    assert clean.git_commit == commit and clean.git_dirty is False
    (repo.root / "new_file.py").write_text("x = 1\n")
    dirty = make(amount=9).run()
    assert dirty.git_commit == commit and dirty.git_dirty is True


class Opaque:
    def __init__(self, v: int) -> None:
        self.v = v


def test_outputs_typed_any_or_abstract_pick_a_materializer_from_the_value(repo: Repository) -> None:
    @step
    def anything() -> Output(arr=typing.Any, frame=pd.DataFrame, model=ClassifierMixin, obj=Opaque):
        model = DummyClassifier().fit([[0], [1]], [0, 1])
        return np.ones(3), pd.DataFrame({"a": [1, 2]}), model, Opaque(4)

    @step
    def use(arr: np.ndarray, frame: pd.DataFrame, obj: Opaque) -> float:
        return float(arr.sum() + frame["a"].sum() + obj.v)

    @pipeline
    def mixed(anything, use):
        arr, frame, _, obj = anything()
        use(arr=arr, frame=frame, obj=obj)

    run = mixed(anything=anything(), use=use()).run()
    outs = run.get_step("anything").outputs
    assert outs["arr"].materializer.endswith(":NumpyMaterializer")
    assert outs["frame"].materializer.endswith(":PandasMaterializer")
    assert outs["model"].materializer.endswith(":SklearnMaterializer")
    assert outs["model"].artifact_type == "system.Model"
    assert outs["obj"].materializer.endswith(":PickleMaterializer")
    assert outs["obj"].data_type.endswith("Opaque")
    assert run.get_step("use").output.read() == 3 + 3 + 4
    assert isinstance(outs["frame"].read(), pd.DataFrame)


def _adder(i: int):
    @step
    def add_constant(x: int) -> int:
        return x + i

    return add_constant


@pipeline
def factory(numbers, a0, a1):
    _, n = numbers()
    a0(n)
    a1(n)


def test_steps_from_one_factory_never_share_a_cache_entry(repo: Repository) -> None:
    for _ in range(2):  # the second run is served from the cache
        run = factory(numbers=numbers(), a0=_adder(100)(), a1=_adder(200)()).run()
        assert run.get_step("a0").output.read() == 105
        assert run.get_step("a1").output.read() == 205
    assert run.get_step("a0").is_cached and run.get_step("a1").is_cached
    changed = factory(numbers=numbers(), a0=_adder(100)(), a1=_adder(300)()).run()
    assert changed.get_step("a0").is_cached and not changed.get_step("a1").is_cached
    assert changed.get_step("a1").output.read() == 305


@step
def pair(a: int, b: int) -> int:
    return a * 10 + b


def test_one_output_may_feed_several_inputs_of_a_step(repo: Repository) -> None:
    @pipeline
    def twice(numbers, pair):
        _, n = numbers()
        pair(a=n, b=n)

    for _ in range(2):
        run = twice(numbers=numbers(), pair=pair()).run()
        step_view = run.get_step("pair")
        assert step_view.output.read() == 55
        assert set(step_view.inputs) == {"a", "b"}
        assert step_view.inputs["a"].uri == step_view.inputs["b"].uri
    assert step_view.is_cached


class Broken:
    pass


class BrokenMaterializer(BaseMaterializer):
    def save(self, data: object, path: Path) -> None:
        (path / "x").write_text("x")

    def load(self, path: Path, data_type: type) -> object:
        raise ValueError("corrupt")


def test_an_input_that_cannot_be_loaded_fails_the_step_and_is_recorded(repo: Repository) -> None:
    @step(output_materializers={"output": BrokenMaterializer})
    def make_broken() -> Broken:
        return Broken()

    @step
    def consume(b: Broken) -> int:
        return 1

    @pipeline
    def broken(make_broken, consume):
        consume(make_broken())

    with pytest.raises(StepFailedError, match=r"input 'b' of step 'consume' could not be loaded") as info:
        broken(make_broken=make_broken(), consume=consume()).run()
    run = Repository().get_run(info.value.run_id)
    assert run.status == ExecutionStatus.FAILED
    assert run.get_step("consume").status == ExecutionStatus.FAILED


@step
def not_a_number() -> Output(value=float, scores=dict[str, float]):
    return float("nan"), {"low": float("-inf"), "mid": 0.5}


@step
def count_nan(value: float) -> int:
    return int(value != value)


@pipeline
def non_finite(not_a_number, count_nan):
    value, _ = not_a_number()
    count_nan(value)


def test_nan_and_infinities_are_recorded_and_read_back(repo: Repository) -> None:
    """MLMD's sqlite store cannot write NaN into SQL: metadata records them as text."""
    run = non_finite(not_a_number=not_a_number(), count_nan=count_nan()).run()
    assert run.status == ExecutionStatus.COMPLETED
    produced = run.get_step("not_a_number")
    value = produced.outputs["value"].read()
    assert value != value  # NaN
    assert produced.outputs["scores"].read() == {"low": float("-inf"), "mid": 0.5}
    assert produced.outputs["value"].artifact_type == "system.Metrics"
    assert run.get_step("count_nan").output.read() == 1
