"""The container side of the KFP contract, run as a process with executor inputs shaped
like the ones KFP's launcher and kfp.local pass (no Docker needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.compiler.backend_rules import check_executor_output
from tests.compiler.conftest import task_key
from zenml_kf.entrypoint import local_path


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("gs://bucket/root/run/x", "/gcs/bucket/root/run/x"),
        ("s3://bucket/a/b", "/s3/bucket/a/b"),
        ("minio://mlpipeline/v2/artifacts/x", "/minio/mlpipeline/v2/artifacts/x"),
        ("/tmp/local/root/x", "/tmp/local/root/x"),
    ],
)
def test_uris_map_to_the_launcher_mounts(uri: str, path: str) -> None:
    assert local_path(uri) == Path(path)


def test_unknown_scheme_is_an_error() -> None:
    from zenml_kf.exceptions import ZenMLKFError

    with pytest.raises(ZenMLKFError, match="scheme KFP does not mount"):
        local_path("hdfs://x/y")


class Pod:
    """Runs compiled steps the way KFP does: the container's args with `{{$}}` filled in."""

    def __init__(self, compiled: Any, project: Path, root: Path) -> None:
        self.compiled, self.project, self.root = compiled, project, root

    def run(self, step: str, parameters: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None):
        outputs = self.compiled.spec.components[f"comp-{task_key(step)}"].output_definitions.artifacts
        executor_input = {
            "inputs": {"parameterValues": parameters or {}, "artifacts": inputs or {}},
            "outputs": {
                "artifacts": {
                    name: {"artifacts": [{"name": name, "uri": str(self.root / step / name)}]}
                    for name in outputs
                },
                "outputFile": str(self.root / step / "executor_output.json"),
            },
        }
        args = [
            json.dumps(executor_input) if a == "{{$}}" else a for a in self.compiled.executor(step)["args"]
        ]
        env = {**os.environ, "PYTHONPATH": str(self.project)}
        proc = subprocess.run(
            [sys.executable, "-m", "zenml_kf.entrypoint", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
        )
        output_file = self.root / step / "executor_output.json"
        # Every executor output must be one the KFP launcher can parse and record.
        result = check_executor_output(output_file.read_text()) if output_file.exists() else None
        return proc, result


def _as_input(result: dict[str, Any], name: str) -> dict[str, Any]:
    return {"artifacts": result["artifacts"][name]["artifacts"]}


def test_steps_run_and_list_every_output_with_metadata(compile_flow, project: Path, tmp_path: Path) -> None:
    pod = Pod(compile_flow("multi_pipeline"), project, tmp_path)
    proc, split = pod.run("split")
    assert proc.returncode == 0, proc.stderr
    assert set(split["artifacts"]) == {"features", "count", "name"}
    count = split["artifacts"]["count"]["artifacts"][0]
    assert count["uri"] == str(tmp_path / "split" / "count")
    # An int is a scalar metric: its metadata is its value under the output's name, which
    # the KFP UI lists (and nothing else but its display name).
    assert count["metadata"] == {"display_name": "count", "count": 6}
    features = split["artifacts"]["features"]["artifacts"][0]["metadata"]
    assert features["artifact_type"] == "system.Dataset" and features["shape"] == "(2, 3)"
    proc, described = pod.run(
        "describe", inputs={n: _as_input(split, n) for n in ("features", "count", "name")}
    )
    assert proc.returncode == 0, proc.stderr
    assert described["artifacts"]["output"]["artifacts"][0]["metadata"]["value"] == "ones:(2, 3):6"
    # Each output folder carries the completion marker bucket stores read artifacts by, so
    # artifacts the KFP launcher uploads are readable with `.read()` like local ones.
    marker = json.loads((tmp_path / "split" / "features" / "~zenml-artifact.json").read_text())
    assert marker["files"] == {"data.npy": (tmp_path / "split" / "features" / "data.npy").stat().st_size}


def test_parameter_values_from_kfp_override_the_compiled_ones(
    compile_flow, project: Path, tmp_path: Path
) -> None:
    pod = Pod(compile_flow("linear_pipeline"), project, tmp_path)
    _, numbers = pod.run("numbers")
    _, scaled = pod.run("scale", inputs={"data": _as_input(numbers, "output")})
    _, total = pod.run("total", inputs={"data": _as_input(scaled, "output")})
    assert total["artifacts"]["output"]["artifacts"][0]["metadata"]["output"] == 45.0  # 15 * 3.0
    _, scaled = pod.run("scale", parameters={"factor": 10}, inputs={"data": _as_input(numbers, "output")})
    _, total = pod.run("total", inputs={"data": _as_input(scaled, "output")})
    assert total["artifacts"]["output"]["artifacts"][0]["metadata"]["output"] == 150.0


def test_input_metadata_missing_falls_back_to_the_compiled_producer(
    compile_flow, project: Path, tmp_path: Path
) -> None:
    pod = Pod(compile_flow("linear_pipeline"), project, tmp_path)
    _, numbers = pod.run("numbers")
    bare = {"artifacts": [{"uri": numbers["artifacts"]["output"]["artifacts"][0]["uri"]}]}
    proc, scaled = pod.run("scale", inputs={"data": bare})
    assert proc.returncode == 0, proc.stderr
    assert scaled["artifacts"]["output"]["artifacts"][0]["metadata"]["shape"] == "(6,)"


def test_invalid_parameter_value_is_a_one_line_error(compile_flow, project: Path, tmp_path: Path) -> None:
    pod = Pod(compile_flow("linear_pipeline"), project, tmp_path)
    _, numbers = pod.run("numbers")
    proc, result = pod.run(
        "scale", parameters={"factor": "lots"}, inputs={"data": _as_input(numbers, "output")}
    )
    assert proc.returncode == 1
    assert result is None
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: parameters of step 'scale' are invalid (factor:")
    )


def test_a_failing_step_exits_non_zero_with_its_traceback(
    compile_flow, project: Path, tmp_path: Path
) -> None:
    pod = Pod(compile_flow("failing_pipeline"), project, tmp_path)
    _, numbers = pod.run("numbers")
    proc, result = pod.run("explode", inputs={"data": _as_input(numbers, "output")})
    assert proc.returncode == 1
    assert result is None  # nothing is published
    assert "Traceback" in proc.stderr and 'flows.py", line' in proc.stderr
    assert "ValueError: boom with 6 values" in proc.stderr
    assert "Error: step 'explode' raised ValueError: boom with 6 values" in proc.stderr


def test_step_missing_from_the_image_is_a_one_line_error(compile_flow, tmp_path: Path) -> None:
    pod = Pod(compile_flow("linear_pipeline"), tmp_path / "empty", tmp_path)
    proc, _ = pod.run("numbers")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: cannot import module 'flows'")


def test_bad_command_line_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zenml_kf.entrypoint", "--step", "x", "--spec", "{", "--executor-input", "{}"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "is not JSON" in proc.stderr
