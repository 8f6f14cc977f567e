"""Step settings: valid ones land in the IR and the kfp-kubernetes platform spec, invalid
ones are one-line SettingsErrors raised when the pipeline's graph is built."""

from __future__ import annotations

import pytest

from zenml_kf.exceptions import SettingsError
from zenml_kf.pipelines.settings import StepSettings, parse_duration, parse_settings


def test_resources_gpu_env_retry_and_caching_in_the_ir(compile_flow) -> None:
    from google.protobuf import json_format

    compiled = compile_flow("configured_pipeline")
    container = compiled.executor("heavy")
    resources = container["resources"]
    assert resources["resourceCpuRequest"] == "500m"
    assert resources["resourceCpuLimit"] == "2"
    assert resources["resourceMemoryRequest"] == "256Mi"
    assert resources["resourceMemoryLimit"] == "1Gi"  # the step's own value beats the pipeline's 2Gi
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "2"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"MODE": "fast", "LOG_LEVEL": "debug"}
    heavy = json_format.MessageToDict(compiled.spec.root.dag.tasks["heavy"])
    assert heavy["cachingOptions"] == {}  # enableCache false is the proto default
    assert heavy["retryPolicy"] == {
        "maxRetryCount": 3,
        "backoffDuration": "30s",
        "backoffFactor": 2.0,
        "backoffMaxDuration": "600s",
    }
    light = compiled.executor("light")
    assert light["resources"]["resourceMemoryLimit"] == "2Gi"  # pipeline settings reach every step
    assert json_format.MessageToDict(compiled.spec.root.dag.tasks["light"])["cachingOptions"] == {
        "enableCache": True
    }


def test_kubernetes_settings_in_the_platform_spec(compile_flow) -> None:
    k8s = compile_flow("configured_pipeline").k8s("heavy")
    assert k8s["secretAsEnv"][0]["secretName"] == "db-credentials"
    assert k8s["secretAsEnv"][0]["keyToEnv"] == [{"secretKey": "password", "envVar": "DB_PASSWORD"}]
    assert k8s["nodeSelector"]["labels"] == {"cloud.google.com/gke-nodepool": "gpu-pool"}
    assert k8s["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert k8s["imagePullSecret"][0]["secretName"] == "regcred"
    assert k8s["activeDeadlineSeconds"] == "5400"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"cpu_limit": "2 cores"}, "cpu_limit: '2 cores' is not a CPU quantity"),
        ({"memory_limit": "1.5Gi"}, "memory_limit: '1.5Gi' is not a memory quantity"),
        ({"memory_request": "lots"}, "is not a memory quantity"),
        (
            {"gpu_type": "nvidia.com/gpu", "gpu_count": 3},
            "3 GPUs cannot be requested; KFP accepts 0, 1, 2, 4, 8, 16",
        ),
        ({"gpu_count": 1}, "gpu_count needs gpu_type"),
        ({"cpu_request": "2", "cpu_limit": "500m"}, "cpu_request 2 is larger than cpu_limit 500m"),
        (
            {"memory_request": "2Gi", "memory_limit": "1Gi"},
            "memory_request 2Gi is larger than memory_limit 1Gi",
        ),
        ({"env": {"AWS_SECRET_ACCESS_KEY": "abc"}}, "looks like a credential"),
        ({"env": {"1BAD": "x"}}, "is not an environment variable name"),
        ({"secret_env": {"X": {"secret": "Bad_Name", "key": "k"}}}, "is not a Kubernetes secret name"),
        ({"node_selector": {"bad key!": "v"}}, "is not a Kubernetes label key"),
        ({"tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]}, "takes no value"),
        ({"tolerations": [{"key": "a", "effect": "Sometimes"}]}, "tolerations.0.effect"),
        ({"image_pull_secrets": ["UPPER"]}, "is not a Kubernetes secret name"),
        ({"retries": -1}, "retries.max_retries"),
        ({"timeout": "soon"}, "'soon' is not a duration"),
        ({"timeout": 0}, "longer than 0 seconds"),
        ({"cpu": "1"}, "unknown setting 'cpu'; known settings are: cpu_request"),
    ],
)
def test_invalid_settings_are_one_line_errors(raw: dict, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings(raw, "step 'train'")
    message = str(info.value)
    assert message.startswith("settings of step 'train' are invalid: ")
    assert fragment in message
    assert "\n" not in message


def test_valid_settings_are_normalised() -> None:
    settings = parse_settings(
        {
            "cpu_limit": 0.5,
            "memory_limit": 1024,
            "retries": 2,
            "timeout": "15m",
            "gpu_type": "nvidia.com/gpu",
        },
        "s",
    )
    assert settings.cpu_limit == "0.5"
    assert settings.memory_limit == "1024"
    assert settings.retries is not None and settings.retries.max_retries == 2
    assert settings.timeout == 900
    assert settings == StepSettings.model_validate(settings.model_dump())


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90), ("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400)]
)
def test_durations(text: int | str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_two_variables_may_read_the_same_secret_key(project, tmp_path) -> None:
    from compiler import compile_graph
    from tests.compiler.conftest import parse_compiled
    from zenml_kf.source import load_target

    pipeline = load_target(f"{project}/flows.py:linear_pipeline", project)
    same_key = {"secret": "db", "key": "password"}
    graph = pipeline.graph.model_copy(
        update={
            "steps": [
                s.model_copy(
                    update={
                        "settings": StepSettings.model_validate(
                            {"secret_env": {"PGPASSWORD": same_key, "DB_PASSWORD": same_key}}
                        )
                    }
                )
                for s in pipeline.graph.steps
            ]
        }
    )
    compiled = parse_compiled(compile_graph(graph, "steps:1", tmp_path / "p.yaml", code_root=project))
    pairs = {
        (entry["secretName"], kv["secretKey"], kv["envVar"])
        for entry in compiled.k8s("numbers")["secretAsEnv"]
        for kv in entry["keyToEnv"]
    }
    assert pairs == {("db", "password", "PGPASSWORD"), ("db", "password", "DB_PASSWORD")}
