"""`@pipeline`: wiring step instances into the graph model, and every wiring mistake."""

from __future__ import annotations

import numpy as np
import pytest

from zenml_kf import BaseStepConfig, Output, pipeline, step
from zenml_kf.exceptions import PipelineInterfaceError
from zenml_kf.pipelines.graph import PipelineGraph


class ScaleCfg(BaseStepConfig):
    factor: int = 2


class Required(BaseStepConfig):
    n: int


@step
def source() -> Output(a=int, b=np.ndarray):
    return 1, np.zeros(2)


@step
def scale(a: int, config: ScaleCfg) -> int:
    return a * config.factor


@step
def combine(x: int, arr: np.ndarray) -> float:
    return float(x + arr.sum())


@step
def needs(config: Required) -> int:
    return config.n


@step
def text() -> str:
    return "s"


@pipeline
def three(src, sc, comb):
    a, b = src()
    scaled = sc(a)
    comb(arr=b, x=scaled)


def test_graph_records_steps_edges_parameters_and_materializers() -> None:
    p = three(src=source(), sc=scale(config=ScaleCfg(factor=5)), comb=combine())
    graph = p.graph
    assert [s.name for s in graph.steps] == ["src", "sc", "comb"]
    comb = graph.step("comb")
    assert {(e.name, e.step, e.output) for e in comb.inputs} == {
        ("x", "sc", "output"),
        ("arr", "src", "b"),
    }
    assert set(comb.upstream) == {"sc", "src"}
    assert graph.step("sc").parameters == {"factor": 5}
    src = graph.step("src")
    assert src.step_name == "source"
    assert src.output("b").materializer.endswith(":NumpyMaterializer")
    assert src.output("b").artifact_type == "system.Dataset"
    assert src.output("a").data_type == "int"
    # The graph is plain data: it survives a JSON round trip unchanged.
    assert PipelineGraph.model_validate_json(graph.model_dump_json()) == graph


def test_positional_pipeline_arguments_and_named_outputs() -> None:
    @pipeline(name="named", enable_cache=False)
    def attr_access(src, comb):
        outs = src()
        comb(outs.a, outs.b)

    p = attr_access(source(), combine())
    assert p.name == "named"
    assert p.graph.enable_cache is False
    assert all(not s.enable_cache for s in p.graph.steps)


def test_config_defaults_fill_parameters_and_missing_required_ones_fail_at_graph_time() -> None:
    @pipeline
    def one(s):
        s()

    assert one(s=scale.__class__ and source()).graph.step("s").parameters == {}

    @pipeline
    def req(n):
        n()

    p = req(n=needs())
    with pytest.raises(
        PipelineInterfaceError, match=r"parameters of step 'n' are invalid .*n: Field required"
    ):
        _ = p.graph
    assert req(n=needs(config=Required(n=3))).graph.step("n").parameters == {"n": 3}


def test_unknown_input_is_rejected() -> None:
    @pipeline
    def bad(src, sc):
        a, _ = src()
        sc(nope=a)

    with pytest.raises(PipelineInterfaceError, match="step 'sc' has no input 'nope'; its inputs are: a"):
        bad(src=source(), sc=scale())


def test_missing_input_is_rejected() -> None:
    @pipeline
    def bad(src, comb):
        a, _ = src()
        comb(x=a)

    with pytest.raises(PipelineInterfaceError, match="input 'arr' of step 'comb' is missing"):
        bad(src=source(), comb=combine())


def test_too_many_positional_inputs_and_constants_are_rejected() -> None:
    @pipeline
    def too_many(src, sc):
        a, b = src()
        sc(a, b)

    with pytest.raises(PipelineInterfaceError, match="takes 1 input"):
        too_many(src=source(), sc=scale())

    @pipeline
    def constant(sc):
        sc(3)

    with pytest.raises(PipelineInterfaceError, match="must be outputs of other steps"):
        constant(sc=scale())


def test_pipeline_argument_that_is_not_a_step_instance() -> None:
    with pytest.raises(
        PipelineInterfaceError,
        match=r"is the step 'source' itself; pass an instance: src=source\(\)",
    ):
        three(src=source, sc=scale(), comb=combine())
    with pytest.raises(PipelineInterfaceError, match="is an int, not a step instance"):
        three(src=3, sc=scale(), comb=combine())
    with pytest.raises(PipelineInterfaceError, match="is missing step 'comb'"):
        three(src=source(), sc=scale())
    with pytest.raises(PipelineInterfaceError, match="has no step argument 'extra'"):
        three(src=source(), sc=scale(), comb=combine(), extra=text())


def test_same_step_instance_twice() -> None:
    @pipeline
    def twice(a, b):
        a()
        b()

    shared = text()
    with pytest.raises(PipelineInterfaceError, match="same step instance is passed as 'a' and 'b'"):
        twice(a=shared, b=shared)

    @pipeline
    def called_twice(a):
        a()
        a()

    with pytest.raises(PipelineInterfaceError, match="step 'a' is called twice"):
        called_twice(a=text())


def test_step_not_called_is_kept_only_without_inputs() -> None:
    @pipeline
    def lazy(src, sc):
        src()

    with pytest.raises(PipelineInterfaceError, match="step 'sc' is never called"):
        lazy(src=source(), sc=scale())

    @pipeline
    def standalone(t):
        pass

    assert [s.name for s in standalone(t=text()).graph.steps] == ["t"]


def test_mismatched_annotations_between_steps() -> None:
    @pipeline
    def mismatch(t, sc):
        sc(t())

    with pytest.raises(
        PipelineInterfaceError,
        match="input 'a' of step 'sc' expects int but output 'output' of step 't' is str",
    ):
        mismatch(t=text(), sc=scale())


def test_graph_rejects_edges_to_unknown_or_later_steps() -> None:
    from pydantic import ValidationError

    raw = three(src=source(), sc=scale(), comb=combine()).graph.model_dump()
    raw["steps"] = list(reversed(raw["steps"]))
    with pytest.raises(ValidationError, match="not an earlier step"):
        PipelineGraph.model_validate(raw)


def test_settings_merge_pipeline_step_and_config_file(tmp_path) -> None:
    from zenml_kf.pipelines.settings import StepSettings

    @step(settings={"env": {"A": "1", "B": "1"}, "cpu_request": "1"})
    def heavy() -> int:
        return 1

    @pipeline(settings={"env": {"A": "0", "C": "0"}, "cpu_request": "500m", "retries": 1})
    def p(h):
        h()

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("steps:\n  h:\n    settings:\n      env: {B: '2'}\n")
    spec = p(h=heavy()).with_config(cfg).graph.step("h")
    assert spec.settings == StepSettings.model_validate(
        {"env": {"A": "1", "B": "2", "C": "0"}, "cpu_request": "1", "retries": 1}
    )


def test_invalid_settings_fail_when_the_graph_is_built_and_name_their_owner() -> None:
    from zenml_kf.exceptions import SettingsError

    @step(settings={"memory_limit": "lots"})
    def greedy() -> int:
        return 1

    @pipeline(settings={"retries": {"max_retries": 2, "backoff_factor": 1.5}})
    def p(g):
        g()

    with pytest.raises(SettingsError, match=r"^settings of pipeline 'p' are invalid: retries.backoff_factor"):
        _ = p(g=greedy()).graph

    @pipeline
    def q(g):
        g()

    with pytest.raises(SettingsError, match=r"^settings of step 'g' are invalid: memory_limit: 'lots'"):
        _ = q(g=greedy()).graph
