"""Pipelines the compiler tests compile (and the Docker tests run): linear, fan-out and
fan-in, several outputs, parameters of every JSON type, and every step setting."""

from __future__ import annotations

from typing import Any

import numpy as np

from zenml_kf import BaseStepConfig, Output, pipeline, step
from zenml_kf.materializers.builtin import BuiltInMaterializer


# --- linear -------------------------------------------------------------------------
class ScaleConfig(BaseStepConfig):
    factor: float = 2.0


@step
def numbers() -> np.ndarray:
    return np.arange(6.0)


@step
def scale(data: np.ndarray, config: ScaleConfig) -> np.ndarray:
    return data * config.factor


@step
def total(data: np.ndarray) -> float:
    return float(data.sum())


@pipeline
def linear(numbers, scale, total):
    """Three steps in a row."""
    total(scale(numbers()))


linear_pipeline = linear(numbers=numbers(), scale=scale(config=ScaleConfig(factor=3.0)), total=total())


# --- fan-out and fan-in -----------------------------------------------------------------
class OffsetConfig(BaseStepConfig):
    offset: int = 1


@step
def source() -> list:
    return [1, 2, 3]


@step
def shift(values: list, config: OffsetConfig) -> list:
    return [v + config.offset for v in values]


@step
def join(left: list, right: list) -> dict:
    return {"left": left, "right": right, "sum": sum(left) + sum(right)}


@pipeline
def diamond(source, left, right, join):
    """One source, two branches, one join."""
    values = source()
    join(left=left(values), right=right(values))


diamond_pipeline = diamond(
    source=source(), left=shift(), right=shift(config=OffsetConfig(offset=10)), join=join()
)


# --- several outputs ------------------------------------------------------------------
@step
def split() -> Output(features=np.ndarray, count=int, name=str):
    return np.ones((2, 3)), 6, "ones"


@step
def describe(features: np.ndarray, count: int, name: str) -> str:
    return f"{name}:{features.shape}:{count}"


@pipeline
def multi(split, describe):
    features, count, name = split()
    describe(features=features, count=count, name=name)


multi_pipeline = multi(split=split(), describe=describe())


# --- parameters of every JSON type -----------------------------------------------------
class AllTypes(BaseStepConfig):
    an_int: int = 7
    a_float: float = 0.5
    a_str: str = "hello"
    a_bool: bool = True
    a_dict: dict = {"k": [1, 2]}  # noqa: RUF012 (pydantic copies field defaults)
    a_list: list = ["x", 1]  # noqa: RUF012
    maybe: int | None = None


@step
def echo_params(config: AllTypes) -> dict:
    return config.model_dump()


@pipeline
def params(echo):
    echo()


params_pipeline = params(echo=echo_params())


# --- settings -----------------------------------------------------------------------
@step(
    settings={
        "cpu_request": "500m",
        "cpu_limit": 2,
        "memory_request": "256Mi",
        "memory_limit": "1Gi",
        "gpu_type": "nvidia.com/gpu",
        "gpu_count": 2,
        "env": {"MODE": "fast"},
        "secret_env": {"DB_PASSWORD": {"secret": "db-credentials", "key": "password"}},
        "node_selector": {"cloud.google.com/gke-nodepool": "gpu-pool"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "image_pull_secrets": ["regcred"],
        "retries": {"max_retries": 3, "backoff": "30s", "backoff_factor": 2, "max_backoff": "10m"},
        "caching": False,
        "timeout": "1h30m",
    }
)
def heavy() -> int:
    return 1


@pipeline(settings={"memory_limit": "2Gi", "env": {"LOG_LEVEL": "debug"}})
def configured(heavy, light):
    heavy()
    light()


configured_pipeline = configured(heavy=heavy(), light=numbers())


# --- a step that fails ------------------------------------------------------------------
@step
def explode(data: np.ndarray) -> int:
    raise ValueError(f"boom with {len(data)} values")


@pipeline
def failing(numbers, explode):
    explode(numbers())


failing_pipeline = failing(numbers=numbers(), explode=explode())


# --- run in containers by the Docker tests ----------------------------------------------
@step
def stats(data: np.ndarray) -> Output(mean=float, summary=dict):
    return float(data.mean()), {"n": int(data.size), "max": float(data.max())}


@pipeline
def parity(numbers, scale, total, stats):
    """Numbers scaled by a parameter, then summed and summarised."""
    scaled = scale(numbers())
    total(scaled)
    stats(scaled)


parity_pipeline = parity(numbers=numbers(), scale=scale(), total=total(), stats=stats())


# --- names KFP rewrites, and values strict JSON cannot hold -------------------------------
class NoteMaterializer(BuiltInMaterializer):
    """Metadata with a None and a NaN, which the KFP launcher cannot record as they are."""

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"value": data, "missing": None, "ratio": float("nan"), "nested": {"gone": None, "x": 1}}


@step
def load_data() -> np.ndarray:
    """Four readings, one of them missing."""
    return np.array([1.0, 2.0, np.nan, 4.0])


@step
def mean_value(data: np.ndarray) -> float:
    return float(np.mean(data))  # NaN: a reading is missing


@step(name="summarise", output_materializers={"note": NoteMaterializer})
def summarise_readings(data: np.ndarray, mean: float) -> Output(scores=dict[str, float], note=str):
    return {"mean": mean, "max": float(np.nanmax(data)), "peak": float("inf")}, "done"


@pipeline
def awkward_names(load_data, mean_of_data, summary_step):
    """snake_case step names, renamed instances and non-finite numbers."""
    data = load_data()
    summary_step(data=data, mean=mean_of_data(data))


awkward_pipeline = awkward_names(
    load_data=load_data(), mean_of_data=mean_value(), summary_step=summarise_readings()
)
