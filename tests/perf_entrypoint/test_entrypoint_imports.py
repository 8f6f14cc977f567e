"""What a KFP pod pays to run a step: `python -m zenml_kf.entrypoint` on a compiled spec.

Every pod starts a fresh interpreter, so whatever the entrypoint imports or builds on top
of the user's module is paid once per step. These tests run the compiled container args
as a process (with `{{$}}` filled in, as KFP's launcher does) and check that the pod loads
nothing it does not need, while the executor output stays strict and complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compiler.backend_rules import check_executor_output
from tests.conftest import new_project, run_cli
from zenml_kf.artifact_stores.manifest import MARKER
from zenml_kf.entrypoint import pod_step
from zenml_kf.pipelines.graph import StepSpec

STEPS = """
import numpy as np

from zenml_kf import BaseStepConfig, Output, step


class Scale(BaseStepConfig):
    factor: float = 2.0


@step
def make() -> Output(images=np.ndarray, labels=np.ndarray):
    return np.ones((4, 3)), np.arange(4)


@step
def score(images: np.ndarray, labels: np.ndarray, config: Scale) -> Output(mean=float, spread=float):
    return float(images.mean() * config.factor), float("nan")
"""

PIPELINE = """
from pod_steps import Scale, make, score

from zenml_kf import pipeline


@pipeline
def pod(make, score):
    images, labels = make()
    score(images=images, labels=labels)


pod_pipeline = pod(make=make(), score=score(config=Scale(factor=3.0)))
"""

# Loaded by none of the step's code, and not needed to run it: each costs a pod start-up.
NOT_IN_A_POD = (
    "yaml",
    "kfp",
    "compiler",
    "ml_metadata",
    "grpc",
    "pydantic_settings",
    "docker",
    "boto3",
    "google.cloud",
    "zenml_kf.stack",
    "zenml_kf.repository",
    "zenml_kf.metadata.store",
    "zenml_kf.orchestrators",
    "zenml_kf.pipelines.graph",
    "zenml_kf.pipelines.settings",
)

# Records sys.modules when the entrypoint's process ends (sys.exit runs atexit hooks).
WITH_MODULES = """
import atexit, json, runpy, sys
out, args = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["zenml_kf.entrypoint", *args]
runpy.run_module("zenml_kf.entrypoint", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    """The project and each step's container args, compiled with `zenml compile`."""
    root = new_project(tmp_path_factory.mktemp("pod"), {"pod_steps.py": STEPS, "pod_pipeline.py": PIPELINE})
    out = root / "pod.yaml"
    result = run_cli("compile", "pod_pipeline.py:pod_pipeline", "-o", str(out), "--image", "x:y", cwd=root)
    assert result.code == 0, result
    spec = next(iter(yaml.safe_load_all(out.read_text())))
    executors = spec["deploymentSpec"]["executors"]
    args = {
        step: [str(a) for a in executors[f"exec-{step}"]["container"]["args"]] for step in ("make", "score")
    }
    return root, args


def _executor_input(folder: Path, outputs: tuple[str, ...], inputs: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "inputs": {"parameterValues": {}, "artifacts": inputs or {}},
            "outputs": {
                "artifacts": {n: {"artifacts": [{"name": n, "uri": str(folder / n)}]} for n in outputs},
                "outputFile": str(folder / "executor_output.json"),
            },
        }
    )


def _pod(
    root: Path, args: list[str], executor_input: str, modules_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    filled = [executor_input if a == "{{$}}" else a for a in args]
    command = (
        [sys.executable, "-c", WITH_MODULES, str(modules_file), *filled]
        if modules_file
        else [sys.executable, "-m", "zenml_kf.entrypoint", *filled]
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd="/")


def _loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_a_pod_loads_only_what_its_step_needs(
    compiled: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, args = compiled
    modules_file = tmp_path / "modules.json"
    proc = _pod(root, args["make"], _executor_input(tmp_path / "make", ("images", "labels")), modules_file)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(modules_file.read_text())
    assert "pod_steps" in modules and "numpy" in modules  # the step really ran in this process
    loaded = [name for name in NOT_IN_A_POD if _loaded(modules, name)]
    assert loaded == [], f"a pod loaded {loaded}"


def test_executor_output_is_strict_and_lists_every_output(
    compiled: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    root, args = compiled
    proc = _pod(root, args["make"], _executor_input(tmp_path / "make", ("images", "labels")))
    assert proc.returncode == 0, proc.stderr
    made = check_executor_output((tmp_path / "make" / "executor_output.json").read_text())
    assert set(made["artifacts"]) == {"images", "labels"}
    images = made["artifacts"]["images"]["artifacts"][0]
    assert images["uri"] == str(tmp_path / "make" / "images")
    assert images["metadata"]["shape"] == "(4, 3)"
    assert images["metadata"]["materializer"].endswith(":NumpyMaterializer")
    # Each folder is whole before the launcher uploads it: the marker lists the array file.
    marker = json.loads((tmp_path / "make" / "images" / MARKER).read_text())
    assert marker["files"] == {"data.npy": (tmp_path / "make" / "images" / "data.npy").stat().st_size}

    as_inputs = {name: made["artifacts"][name] for name in ("images", "labels")}
    proc = _pod(root, args["score"], _executor_input(tmp_path / "score", ("mean", "spread"), as_inputs))
    assert proc.returncode == 0, proc.stderr
    scored = check_executor_output((tmp_path / "score" / "executor_output.json").read_text())
    # The compiled parameter (factor=3.0) reached the config; NaN is written as KFP reads it.
    assert scored["artifacts"]["mean"]["artifacts"][0]["metadata"] == {"display_name": "mean", "mean": 3.0}
    assert scored["artifacts"]["spread"]["artifacts"][0]["metadata"]["spread"] == "NaN"


def test_the_pod_reads_every_field_of_the_compiled_spec_it_uses(
    compiled: tuple[Path, dict[str, list[str]]],
) -> None:
    """The pod's plain reading of the spec agrees with the graph model it was dumped from."""
    _, args = compiled
    for step_args in args.values():
        body = json.loads(step_args[step_args.index("--spec") + 1])["spec"]
        model, plain = StepSpec.model_validate(body), pod_step(body)
        assert (plain.name, plain.source, plain.parameters) == (model.name, model.source, model.parameters)
        assert [(i.name, i.data_type) for i in plain.inputs] == [(i.name, i.data_type) for i in model.inputs]
        assert [(o.name, o.data_type, o.materializer, o.artifact_type) for o in plain.outputs] == [
            (o.name, o.data_type, o.materializer, o.artifact_type) for o in model.outputs
        ]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"spec": {"name": "make", "outputs": []}}, "'source' is missing"),
        (
            {"spec": {"name": "make", "source": "pod_steps:make", "outputs": [{"name": 3}]}},
            "'name' is not a string",
        ),
        ({"spec": ["make"]}, "not a JSON object"),
    ],
)
def test_a_malformed_spec_is_a_one_line_error(tmp_path: Path, spec: dict[str, Any], problem: str) -> None:
    args = ["--step", "make", "--spec", json.dumps(spec), "--executor-input", "{{$}}"]
    proc = _pod(tmp_path, args, _executor_input(tmp_path, ()))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: --spec holds no valid step spec") and problem in line, line


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--step", "make", "--spec", "{}"], "the following arguments are required: --executor-input"),
        (
            ["--step", "make", "--spec", "{}", "--executor-input", "{}", "--verbose"],
            "unrecognized arguments: --verbose",
        ),
        (["--step"], "argument --step: expected one argument"),
    ],
)
def test_a_wrong_command_line_exits_2_naming_the_problem(argv: list[str], problem: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zenml_kf.entrypoint", *argv], capture_output=True, text=True, cwd="/"
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("usage: python -m zenml_kf.entrypoint") and problem in lines[-1], proc.stderr
