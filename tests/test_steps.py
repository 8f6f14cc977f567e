"""`@step`: signatures become inputs, a config and outputs; bad signatures fail at definition."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zenml_kf import BaseStepConfig, Output, step
from zenml_kf.exceptions import PipelineInterfaceError, StepInterfaceError
from zenml_kf.steps.step import StepDefinition, StepInstance


class Cfg(BaseStepConfig):
    rate: float = 0.1
    layers: int = 2


class Other(BaseStepConfig):
    a: int = 1


def test_signature_splits_inputs_config_and_outputs() -> None:
    @step
    def train(x: np.ndarray, y: np.ndarray, config: Cfg) -> Output(model=dict, score=float):
        return {}, 1.0

    sig = train.signature
    assert list(sig.inputs) == ["x", "y"]
    assert sig.config_arg == "config" and sig.config_class is Cfg
    assert list(sig.outputs) == ["model", "score"]
    assert sig.outputs["score"] is float


def test_single_return_is_output_named_output_and_none_is_no_output() -> None:
    @step
    def one() -> int:
        return 1

    @step
    def none() -> None:
        return None

    assert list(one.signature.outputs) == ["output"]
    assert none.signature.outputs == {}


def test_decorator_options_and_plain_function_stays_callable() -> None:
    @step(name="renamed", enable_cache=False)
    def original(x: int) -> int:
        return x + 1

    assert isinstance(original, StepDefinition)
    assert original.name == "renamed"
    assert original.enable_cache is False
    assert original.fn(1) == 2


def test_calling_a_step_gives_an_instance_with_its_config() -> None:
    @step
    def train(config: Cfg) -> float:
        return config.rate

    inst = train(config=Cfg(rate=0.5))
    assert isinstance(inst, StepInstance)
    assert inst.config == Cfg(rate=0.5)
    assert train().config is None


def test_input_without_annotation_is_rejected() -> None:
    with pytest.raises(StepInterfaceError, match="input 'x' of step 'bad' has no type annotation"):

        @step
        def bad(x) -> int:  # type: ignore[no-untyped-def]
            return 1


def test_var_args_and_defaults_and_two_configs_are_rejected() -> None:
    with pytest.raises(StepInterfaceError, match=r"takes \*args"):

        @step
        def star(*args: int) -> int:
            return 1

    with pytest.raises(StepInterfaceError, match="has a default value"):

        @step
        def default(x: int = 3) -> int:
            return x

    with pytest.raises(StepInterfaceError, match="two config arguments"):

        @step
        def two(a: Cfg, b: Other) -> int:
            return 1


def test_wrong_config_type_and_config_on_a_step_without_one() -> None:
    @step
    def train(config: Cfg) -> float:
        return 1.0

    @step
    def plain() -> int:
        return 1

    with pytest.raises(StepInterfaceError, match="expects config of type Cfg"):
        train(config=Other())
    with pytest.raises(StepInterfaceError, match="takes no config"):
        plain(config=Cfg())


def test_step_instance_called_outside_a_pipeline() -> None:
    @step
    def one() -> int:
        return 1

    with pytest.raises(PipelineInterfaceError, match="outside a @pipeline function"):
        one()()


def test_materializer_override_must_name_an_output() -> None:
    from zenml_kf.materializers.pickle_materializer import PickleMaterializer

    with pytest.raises(StepInterfaceError, match="has no output 'nope'"):

        @step(output_materializers={"nope": PickleMaterializer})
        def one() -> int:
            return 1


def test_config_is_validated_and_frozen() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Cfg(rate="fast")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Cfg(unknown=1)  # type: ignore[call-arg]
    cfg = Cfg()
    with pytest.raises(ValidationError):
        cfg.rate = 2.0  # type: ignore[misc]


def test_string_annotations_resolve() -> None:
    # `from __future__ import annotations` is on in this module: annotations are strings.
    @step
    def f(x: int, y: dict[str, Any]) -> Output(a=int, b=str):
        return 1, "b"

    assert f.signature.inputs["x"] is int
    assert f.signature.outputs["b"] is str
