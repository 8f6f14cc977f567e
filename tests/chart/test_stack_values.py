"""From a registered stack to the chart and back: `zenml stack export-values`, `helm
template`, then `zenml stack import-values` of the rendered ConfigMap give an equal stack;
`zenml stack deploy` drives the real helm."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLIResult, assert_clean_error, new_project, run_cli

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "zenml-kf-stack"


@pytest.fixture(scope="module")
def helm() -> Path:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install_helm.sh")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path)


def ok(root: Path, *args: str, env: dict[str, str] | None = None) -> CLIResult:
    result = run_cli(*args, cwd=root, env=env)
    assert result.code == 0, result
    return result


def render(helm: Path, values: Path, *extra: str) -> list[dict]:
    proc = subprocess.run(
        [str(helm), "template", "zenml-kf-stack", str(CHART), "-n", "pipelines", "-f", str(values), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


STACKS = {
    "gcs": [
        ["artifact-store", "register", "gcs", "--flavor", "gcp", "--path", "gs://ml-artifacts/team", "--project", "ml-prod"],
        ["metadata-store", "register", "kfp", "--flavor", "grpc", "--host", "metadata-grpc-service.kubeflow", "--port", "8080"],
        ["orchestrator", "register", "kf", "--flavor", "kubeflow", "--host", "https://kubeflow.example.com/pipeline",
         "--namespace", "team-a", "--image-registry", "europe-docker.pkg.dev/ml-prod/steps", "--service-account", "pipeline-runner"],
        ["stack", "register", "prod", "-o", "kf", "-a", "gcs", "-m", "kfp"],
    ],
    "minio": [
        ["artifact-store", "register", "minio", "--flavor", "s3", "--path", "s3://mlpipeline/zenml",
         "--endpoint-url", "http://minio-service.kubeflow:9000", "--region", "minio", "--path-style", "true"],
        ["metadata-store", "register", "kfp", "--flavor", "grpc", "--host", "metadata-grpc-service.kubeflow"],
        ["orchestrator", "register", "kf", "--flavor", "kubeflow", "--host", "http://ml-pipeline-ui.kubeflow:80",
         "--service-account", "zenml-kf-pipeline"],  # the chart's service account, which pods run as
        ["stack", "register", "prod", "-o", "kf", "-a", "minio", "-m", "kfp"],
    ],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_export_template_import_gives_an_equal_stack(helm: Path, project: Path, kind: str) -> None:
    for args in STACKS[kind]:
        ok(project, *args)
    ok(project, "stack", "export-values", "prod", "-o", "values.yaml")
    values = yaml.safe_load((project / "values.yaml").read_text())
    assert values["stackName"] == "prod"
    rendered = render(helm, project / "values.yaml")
    (project / "rendered.yaml").write_text(yaml.safe_dump_all(rendered))
    ok(project, "stack", "import-values", "rendered.yaml", "--name", "copy")

    from zenml_kf import Repository

    repo = Repository(project)
    original, copy = repo.get_stack("prod"), repo.get_stack("copy")
    for part in ("orchestrator", "artifact_store", "metadata_store"):
        want, got = getattr(original, part), getattr(copy, part)
        # Equal in effect: the same flavor and every setting (given or default) the same.
        assert (got.flavor, got.config.model_dump()) == (want.flavor, want.config.model_dump()), part

    # The launcher's ConfigMap points KFP at the stack's bucket.
    [launcher] = [d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "kfp-launcher"]
    assert launcher["data"]["defaultPipelineRoot"] == values["artifactStore"]["pipelineRoot"]


def test_importing_values_reads_them_as_the_chart_renders_them(
    helm: Path, project: Path, tmp_path: Path
) -> None:
    """import-values of a values file gives the stack the chart's ConfigMap describes."""
    from zenml_kf.stack.chart_values import doc_from_values, load_stack_doc

    combinations = {
        "s3": {"artifactStore": {"type": "s3", "pipelineRoot": "s3://b/p", "s3": {"region": "eu-west-1"}}},
        "minio": {
            "artifactStore": {"type": "s3", "pipelineRoot": "s3://zenml-artifacts/runs"},
            "minio": {"enabled": True, "rootCredentialsSecret": "minio-root"},
        },
        "mlmd": {
            "artifactStore": {"type": "gcs", "pipelineRoot": "gs://b/p", "gcs": {"project": "p1"}},
            "mlmd": {"enabled": True, "passwordSecret": {"name": "mlmd-db", "key": "password"}},
            "kfp": {"host": "http://ml-pipeline-ui.kubeflow", "namespace": "team-a"},
            "imageRegistry": "registry.example.com/steps",
        },
    }
    for name, values in combinations.items():
        file = tmp_path / f"{name}.yaml"
        file.write_text(yaml.safe_dump({"stackName": f"s-{name}", **values}))
        rendered = tmp_path / f"{name}-rendered.yaml"
        rendered.write_text(yaml.safe_dump_all(render(helm, file)))
        from_chart = load_stack_doc(rendered)
        assert doc_from_values(yaml.safe_load(file.read_text()), namespace="pipelines") == from_chart, name


def test_export_refuses_stacks_the_chart_cannot_describe(project: Path) -> None:
    assert_clean_error(run_cli("stack", "export-values", cwd=project), "local orchestrator", "kubeflow")
    bad = project / "bad.yaml"
    bad.write_text("kind: Deployment\nmetadata: {name: x}\n")
    assert_clean_error(run_cli("stack", "import-values", "bad.yaml", cwd=project), "holds no stack")
    before = (project / ".zen" / "config.yaml").read_text()
    assert_clean_error(run_cli("stack", "import-values", "missing.yaml", cwd=project), "cannot read")
    assert (project / ".zen" / "config.yaml").read_text() == before


def test_deploy_renders_with_helm_and_says_when_helm_is_missing(helm: Path, project: Path) -> None:
    for args in STACKS["minio"]:
        ok(project, *args)
    with_helm = {"PATH": f"{helm.parent}{os.pathsep}{os.environ['PATH']}"}
    dry = ok(project, "stack", "deploy", "prod", "-n", "pipelines", "--dry-run", env=with_helm)
    objects = [d for d in yaml.safe_load_all(dry.out) if d]
    [stack_map] = [
        d for d in objects if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "zenml-kf-stack"
    ]
    assert yaml.safe_load(stack_map["data"]["stack.yaml"])["stack"] == "prod"
    assert all(d["metadata"].get("namespace", "pipelines") == "pipelines" for d in objects)

    no_helm = {"PATH": "/usr/bin:/bin"}
    assert_clean_error(run_cli("stack", "deploy", "prod", cwd=project, env=no_helm), "helm is not on PATH")

    nowhere = project / "kubeconfig"
    nowhere.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n"
    )
    failed = run_cli(
        "stack", "deploy", "prod", cwd=project, env={**with_helm, "KUBECONFIG": str(nowhere)}, timeout=300
    )
    assert_clean_error(failed, "helm upgrade --install failed")
