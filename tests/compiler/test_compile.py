"""The compiled YAML: loadable by kfp, a valid PipelineSpec, and faithful to the graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compiler.conftest import Compiled


def _tasks(compiled: Compiled) -> dict[str, dict]:
    from google.protobuf import json_format

    return json_format.MessageToDict(compiled.spec.root.dag)["tasks"]


def _artifact_type(compiled: Compiled, step: str, output: str) -> str:
    component = compiled.spec.components[f"comp-{step}"]
    return component.output_definitions.artifacts[output].artifact_type.schema_title


@pytest.mark.parametrize(
    "attr",
    ["linear_pipeline", "diamond_pipeline", "multi_pipeline", "params_pipeline", "configured_pipeline"],
)
def test_yaml_loads_with_kfp_and_parses_into_pipeline_spec(compile_flow, attr: str) -> None:
    from kfp import components

    compiled = compile_flow(attr)
    component = components.load_component_from_file(str(compiled.path))
    assert component.pipeline_spec.pipeline_info.name == compiled.spec.pipeline_info.name
    assert compiled.spec.schema_version == "2.1.0"


def test_every_step_is_a_container_running_the_entrypoint(compile_flow) -> None:
    compiled = compile_flow("linear_pipeline")
    assert set(compiled.spec.components) == {"comp-numbers", "comp-scale", "comp-total"}
    for step in ("numbers", "scale", "total"):
        container = compiled.executor(step)
        assert container["image"] == "zenml-kf-steps:test"
        assert container["command"] == ["python", "-m", "zenml_kf.entrypoint"]
        args = container["args"]
        assert args[:2] == ["--step", step]
        assert args[-2:] == ["--executor-input", "{{$}}"]
        payload = json.loads(args[args.index("--spec") + 1])
        assert payload["spec"]["name"] == step
        assert payload["spec"]["source"] == f"flows:{step}"
        assert "settings" not in payload["spec"]


def test_linear_edges_and_display_names(compile_flow) -> None:
    compiled = compile_flow("linear_pipeline")
    tasks = _tasks(compiled)
    assert "dependentTasks" not in tasks["numbers"]
    assert tasks["scale"]["dependentTasks"] == ["numbers"]
    assert tasks["total"]["dependentTasks"] == ["scale"]
    edge = tasks["total"]["inputs"]["artifacts"]["data"]["taskOutputArtifact"]
    assert edge == {"producerTask": "scale", "outputArtifactKey": "output"}
    assert {t["taskInfo"]["name"] for t in tasks.values()} == {"numbers", "scale", "total"}
    assert compiled.spec.pipeline_info.name == "linear"
    assert compiled.spec.pipeline_info.description == "Three steps in a row."


def test_fan_out_and_fan_in_edges(compile_flow) -> None:
    tasks = _tasks(compile_flow("diamond_pipeline"))
    assert tasks["left"]["dependentTasks"] == ["source"]
    assert tasks["right"]["dependentTasks"] == ["source"]
    assert sorted(tasks["join"]["dependentTasks"]) == ["left", "right"]
    inputs = tasks["join"]["inputs"]["artifacts"]
    assert inputs["left"]["taskOutputArtifact"]["producerTask"] == "left"
    assert inputs["right"]["taskOutputArtifact"]["producerTask"] == "right"
    # both branches read the same upstream artifact
    for branch in ("left", "right"):
        assert tasks[branch]["inputs"]["artifacts"]["values"]["taskOutputArtifact"] == {
            "producerTask": "source",
            "outputArtifactKey": "output",
        }


def test_multiple_outputs_are_typed_artifacts(compile_flow) -> None:
    compiled = compile_flow("multi_pipeline")
    assert _artifact_type(compiled, "split", "features") == "system.Dataset"
    assert _artifact_type(compiled, "split", "count") == "system.Metrics"
    assert _artifact_type(compiled, "split", "name") == "system.Artifact"
    inputs = compiled.spec.components["comp-describe"].input_definitions.artifacts
    assert inputs["features"].artifact_type.schema_title == "system.Dataset"
    edges = _tasks(compiled)["describe"]["inputs"]["artifacts"]
    assert {name: e["taskOutputArtifact"]["outputArtifactKey"] for name, e in edges.items()} == {
        "features": "features",
        "count": "count",
        "name": "name",
    }


def test_parameters_of_every_json_type_become_pipeline_inputs(compile_flow) -> None:
    from google.protobuf import json_format

    compiled = compile_flow("params_pipeline")
    root = json_format.MessageToDict(compiled.spec.root.input_definitions)["parameters"]
    expected = {
        "echo-an_int": ("NUMBER_INTEGER", 7),
        "echo-a_float": ("NUMBER_DOUBLE", 0.5),
        "echo-a_str": ("STRING", "hello"),
        "echo-a_bool": ("BOOLEAN", True),
        "echo-a_dict": ("STRUCT", {"k": [1, 2]}),
        "echo-a_list": ("LIST", ["x", 1]),
    }
    for name, (kind, default) in expected.items():
        assert root[name]["parameterType"] == kind, name
        assert root[name]["defaultValue"] == default, name
    assert root["echo-maybe"]["parameterType"] == "NUMBER_INTEGER"
    assert root["echo-maybe"]["isOptional"] is True
    assert "defaultValue" not in root["echo-maybe"]
    wiring = _tasks(compiled)["echo"]["inputs"]["parameters"]
    assert wiring["an_int"] == {"componentInputParameter": "echo-an_int"}
    assert set(wiring) == {"an_int", "a_float", "a_str", "a_bool", "a_dict", "a_list", "maybe"}


def test_step_parameter_values_are_the_pipeline_defaults(compile_flow) -> None:
    from google.protobuf import json_format

    compiled = compile_flow("linear_pipeline")
    root = json_format.MessageToDict(compiled.spec.root.input_definitions)["parameters"]
    assert root == {
        "scale-factor": {
            "parameterType": "NUMBER_DOUBLE",
            "defaultValue": 3.0,
            "isOptional": True,
            "description": "parameter 'factor' of step 'scale'",
        }
    }


def test_yaml_holds_no_secret_no_build_machine_path_and_no_zen_dir(
    compile_flow, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-very-secret")
    compiled = compile_flow("configured_pipeline")
    text = compiled.text
    assert "hunter2" not in text
    assert "db-credentials" in text  # the secret is referenced by name only
    assert str(project) not in text
    assert str(Path.home()) not in text
    assert "/tmp/" not in text and "/work/" not in text
    assert ".zen" not in text
    for other in ("linear_pipeline", "diamond_pipeline", "multi_pipeline", "params_pipeline"):
        body = compile_flow(other).text
        assert str(project) not in body and ".zen" not in body and "/tmp/" not in body


def test_compiling_is_deterministic(compile_flow, project: Path, tmp_path: Path) -> None:
    from compiler import compile_graph
    from zenml_kf.source import load_target

    pipeline = load_target(f"{project}/flows.py:diamond_pipeline", project)
    first = compile_graph(pipeline.graph, "img:1", tmp_path / "a.yaml", code_root=project).read_text()
    second = compile_graph(pipeline.graph, "img:1", tmp_path / "b.yaml", code_root=project).read_text()
    assert first == second


def test_compiler_is_not_imported_by_the_cli_or_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, zenml_kf, zenml_kf.cli.main, zenml_kf.entrypoint;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kfp', 'docker', 'compiler', 'ml_metadata')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
