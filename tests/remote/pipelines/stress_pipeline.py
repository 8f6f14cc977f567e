"""Fan-out with caching off: many MLMD writes per run, for concurrent-run tests."""

import os
import time

import numpy as np

from zenml_kf import pipeline, step


@step(enable_cache=False)
def source() -> np.ndarray:
    # Runs started together wait for one wall-clock instant, so their MLMD writes overlap.
    time.sleep(max(0.0, float(os.environ.get("STRESS_START_AT", "0")) - time.time()))
    return np.arange(1000.0)


@step(enable_cache=False)
def shift(x: np.ndarray) -> np.ndarray:
    time.sleep(0.2)  # keeps runs started together overlapping in their MLMD writes
    return x + 1


@step(enable_cache=False)
def total(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> float:
    return float(a.sum() + b.sum() + c.sum() + d.sum())


@pipeline(enable_cache=False)
def stress(source, s1, s2, s3, s4, total):
    x = source()
    total(a=s1(x=x), b=s2(x=x), c=s3(x=x), d=s4(x=x))


p = stress(source(), shift(), shift(), shift(), shift(), total())
