"""Compiled pipelines and executor outputs keep the rules of KFP backends 2.2 to 2.14
(`backend_rules.py` cites where each comes from), the rules catch what breaks them, and
the bad inputs that would break them are one-line errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tests.compiler.backend_rules import check_executor_output, check_pipeline
from tests.compiler.conftest import parse_compiled
from tests.compiler.test_entrypoint import Pod, _as_input
from tests.conftest import CLIResult, assert_clean_error, git_init, run_cli

REPO = Path(__file__).resolve().parents[2]
FLOWS = [
    "linear_pipeline",
    "diamond_pipeline",
    "multi_pipeline",
    "params_pipeline",
    "configured_pipeline",
    "failing_pipeline",
    "parity_pipeline",
    "awkward_pipeline",
]


@pytest.mark.parametrize("attr", FLOWS)
def test_every_test_pipeline_keeps_the_backend_rules(compile_flow, attr: str) -> None:
    compiled = compile_flow(attr)  # parse_compiled checks them; checked again here by name
    import yaml

    docs = list(yaml.safe_load_all(compiled.text))
    check_pipeline(docs[0], docs[1] if len(docs) > 1 else {})


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory):
    """The digits example compiled from a copy of examples/ (its code root)."""
    from compiler import compile_graph
    from zenml_kf.source import load_target

    root = tmp_path_factory.mktemp("digits") / "examples"
    shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("__pycache__"))
    pipeline = load_target(f"{root}/digits/pipeline.py:digits_pipeline_run", root)
    path = compile_graph(pipeline.graph, "zenml-kf-steps:test", root / "digits.yaml", code_root=root)
    return root, parse_compiled(path)


def test_task_keys_are_the_task_names_and_the_step_names_stay_visible(compile_flow) -> None:
    compiled = compile_flow("awkward_pipeline")
    tasks = compiled.spec.root.dag.tasks
    assert {key: task.task_info.name for key, task in tasks.items()} == {
        "load-data": "load-data",
        "mean-of-data": "mean-of-data",
        "summary-step": "summary-step",
    }
    assert tasks["summary-step"].inputs.artifacts["mean"].task_output_artifact.producer_task == "mean-of-data"
    args = compiled.executor("summary_step")["args"]
    assert args[:2] == ["--step", "summary_step"]
    payload = json.loads(args[3])["spec"]
    assert (payload["name"], payload["step_name"]) == ("summary_step", "summarise")
    outputs = compiled.spec.components["comp-summary-step"].output_definitions.artifacts
    assert outputs["note"].description == "output 'note' of step 'summary_step'"
    load = compiled.spec.components["comp-load-data"].output_definitions.artifacts["output"]
    assert load.description == "output 'output' of step 'load_data': Four readings, one of them missing."


def test_descriptions_reach_the_ir(digits) -> None:
    _, compiled = digits
    assert compiled.spec.pipeline_info.description.startswith("Train an SVM on scikit-learn's digits")
    params = compiled.spec.root.input_definitions.parameters
    assert params["trainer-gamma"].description.startswith("parameter 'gamma' of step 'trainer'")


def test_the_rules_catch_what_real_backends_reject(tmp_path: Path) -> None:
    """kfp and kfp-kubernetes left to themselves produce what the rules refuse."""
    import yaml
    from kfp import compiler, components, dsl, kubernetes

    hello = components.load_component_from_text(
        "name: hello\ninputs: [{name: name, type: String}]\n"
        "implementation: {container: {image: busybox, command: [echo, {inputValue: name}]}}\n"
    )

    @dsl.pipeline(name="p")
    def renamed():
        hello(name="x").set_display_name("say hello")

    @dsl.pipeline(name="q")
    def with_secret():
        kubernetes.use_secret_as_env(hello(name="x"), secret_name="db", secret_key_to_env={"pw": "PW"})

    @dsl.pipeline(name="r")
    def fractional():
        hello(name="x").set_retry(num_retries=2, backoff_factor=1.5)

    for pipeline, rule in (
        (renamed, "taskInfo.name 'say hello'"),
        (with_secret, "secretNameParameter"),
        (fractional, "fractional backoff factor 1.5"),
    ):
        path = tmp_path / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        docs = list(yaml.safe_load_all(path.read_text()))
        with pytest.raises(AssertionError, match=rule):
            check_pipeline(docs[0], docs[1] if len(docs) > 1 else {})

    artifact = {"name": "o", "uri": "/tmp/o"}
    for text, rule in (
        (json.dumps({"artifacts": {"o": {"artifacts": [{**artifact, "metadata": {"v": math.nan}}]}}}), "NaN"),
        (json.dumps({"artifacts": {"o": {"artifacts": [{**artifact, "metadata": {"v": None}}]}}}), "null"),
    ):
        with pytest.raises(AssertionError, match=rule):
            check_executor_output(text)


def test_nan_infinity_and_none_in_outputs_are_recorded_as_the_launcher_can(
    compile_flow, project: Path, tmp_path: Path
) -> None:
    from zenml_kf.materializers.builtin import BuiltInMaterializer

    pod = Pod(compile_flow("awkward_pipeline"), project, tmp_path)
    proc, loaded = pod.run("load_data")
    assert proc.returncode == 0, proc.stderr
    proc, mean = pod.run("mean_of_data", inputs={"data": _as_input(loaded, "output")})
    assert proc.returncode == 0, proc.stderr
    [artifact] = mean["artifacts"]["output"]["artifacts"]
    assert artifact["metadata"] == {"display_name": "output", "output": "NaN"}
    assert math.isnan(BuiltInMaterializer().load(Path(artifact["uri"]), float))  # reads back as NaN
    proc, summary = pod.run(
        "summary_step", inputs={"data": _as_input(loaded, "output"), "mean": _as_input(mean, "output")}
    )
    assert proc.returncode == 0, proc.stderr
    scores = summary["artifacts"]["scores"]["artifacts"][0]["metadata"]
    assert scores == {"display_name": "scores", "mean": "NaN", "max": 4.0, "peak": "Infinity"}
    note = summary["artifacts"]["note"]["artifacts"][0]["metadata"]
    assert note["ratio"] == "NaN" and "missing" not in note and note["nested"] == {"x": 1}


def test_digits_accuracy_is_a_metric_the_kfp_ui_shows(digits, tmp_path: Path) -> None:
    root, compiled = digits
    evaluator = compiled.spec.components["comp-evaluator"].output_definitions.artifacts["output"]
    assert evaluator.artifact_type.schema_title == "system.Metrics"
    pod = Pod(compiled, root, tmp_path)
    _, imported = pod.run("importer")
    _, split = pod.run("splitter", inputs={n: _as_input(imported, n) for n in ("images", "labels")})
    _, trained = pod.run("trainer", inputs={n: _as_input(split, n) for n in ("X_train", "y_train")})
    proc, evaluated = pod.run(
        "evaluator",
        inputs={
            "X_test": _as_input(split, "X_test"),
            "y_test": _as_input(split, "y_test"),
            "model": _as_input(trained, "output"),
        },
    )
    assert proc.returncode == 0, proc.stderr
    metadata = evaluated["artifacts"]["output"]["artifacts"][0]["metadata"]
    assert set(metadata) == {"display_name", "output"}
    assert 0.9 < metadata["output"] <= 1.0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git_init(root)
    assert run_cli("init", cwd=root).code == 0
    return root


def test_two_steps_with_one_task_key_are_a_one_line_error(repo: Path) -> None:
    (repo / "clash.py").write_text(
        "from zenml_kf import pipeline, step\n\n"
        "@step\ndef load_data() -> int:\n    return 1\n\n"
        "@pipeline\ndef p(load_data, Load_Data):\n    load_data()\n    Load_Data()\n\n"
        "clash = p(load_data=load_data(), Load_Data=load_data())\n"
    )
    _assert_one_line_error(
        run_cli("compile", "clash.py:clash", "-o", "out.yaml", cwd=repo),
        repo,
        "Error: steps 'load_data' and 'Load_Data' both become KFP task 'load-data'; rename one of "
        "them (task names are lower case, with '-' for any other character)",
    )


def test_a_fractional_backoff_factor_is_a_one_line_error(repo: Path) -> None:
    (repo / "retry.py").write_text(
        "from zenml_kf import pipeline, step\n\n"
        "@step(settings={'retries': {'max_retries': 3, 'backoff_factor': 1.5}})\n"
        "def flaky() -> int:\n    return 1\n\n"
        "@pipeline\ndef p(flaky):\n    flaky()\n\n"
        "retrying = p(flaky=flaky())\n"
    )
    _assert_one_line_error(
        run_cli("compile", "retry.py:retrying", "-o", "out.yaml", cwd=repo),
        repo,
        "Error: settings of step 'flaky' are invalid: retries.backoff_factor: ",
        "1.5 is not a whole number",
    )


def _assert_one_line_error(result: CLIResult, repo: Path, *fragments: str) -> None:
    assert_clean_error(result, *fragments)
    assert len(result.err.strip().splitlines()) == 1, result
    assert not (repo / "out.yaml").exists()


def test_retries_compile_with_one_warning_about_the_backend_version(repo: Path) -> None:
    shutil.copy(REPO / "tests" / "compiler" / "project" / "flows.py", repo / "flows.py")
    result = run_cli("compile", "flows.py:configured_pipeline", "-o", "out.yaml", cwd=repo)
    assert result.code == 0, result
    assert result.err.count("need a KFP backend 2.5 or newer") == 1
