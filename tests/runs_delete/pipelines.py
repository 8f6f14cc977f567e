"""Pipelines the deletion tests run (copied into each test project as `pipe.py`)."""

PIPE = '''
import os
import time
from pathlib import Path

from zenml_kf import BaseStepConfig, Output, pipeline, step


class MakeConfig(BaseStepConfig):
    n: int = 1


class UseConfig(BaseStepConfig):
    suffix: str = ""


@step
def make(config: MakeConfig) -> Output(a=int, b=str):
    return config.n, "x" * config.n


@step
def use(a: int, b: str, config: UseConfig) -> str:
    return b + str(a) + config.suffix


@pipeline
def demo(make, use):
    a, b = make()
    use(a=a, b=b)


p = demo(make=make(), use=use())


@step(enable_cache=False)
def hold() -> int:
    """Runs until the file named by ZT_RELEASE exists: a run that is still running."""
    Path(os.environ["ZT_STARTED"]).touch()
    deadline = time.time() + 120
    while not Path(os.environ["ZT_RELEASE"]).exists() and time.time() < deadline:
        time.sleep(0.05)
    return 1


@pipeline
def slow(hold):
    hold()


s = slow(hold=hold())
'''

SUFFIX_CONFIG = """
steps:
  use:
    parameters:
      suffix: "!"
"""
