"""The compiled YAML run by kfp.local's DockerRunner in real containers from the built
step image gives the same artifacts as the local orchestrator (marker `docker`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.compiler.conftest import PROJECT, parse_compiled, task_key
from tests.conftest import git_init, run_cli
from tests.docker_engine import DockerSetup
from tests.kubeflow.conftest import kfp_server  # noqa: F401  (fixture)
from tests.kubeflow.kfp_api_server import KFPServer

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Built:
    root: Path  # code root (a zenml repository) the image was built from
    image: str
    yaml: Path


@pytest.fixture(scope="session")
def built(docker_engine: DockerSetup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The test project as a zenml repository, its step image built from a host wheelhouse
    (no network inside the build) and the parity pipeline compiled to reference it."""
    base = tmp_path_factory.mktemp("docker")
    root = base / "project"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    git_init(root)
    from zenml_kf import Repository

    Repository.init(root)
    (root / ".zen" / "local_stores" / "leak.txt").write_text("local store content")
    (root / ".env").write_text("API_TOKEN=do-not-ship\n")
    wheelhouse = base / "wheelhouse"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "-w",
            str(wheelhouse),
            "-r",
            str(REPO / "images" / "requirements.txt"),
            "scikit-learn",  # for the digits example's step image
        ],
        check=True,
        timeout=600,
    )
    result = run_cli(
        "compile", "flows.py:parity_pipeline", "-o", str(base / "parity.yaml"), "--build",
        "--python-image", docker_engine.python_image, "--wheelhouse", str(wheelhouse),
        cwd=root, timeout=1200,
    )  # fmt: skip
    assert result.code == 0, result
    image = parse_compiled(base / "parity.yaml").executor("numbers")["image"]
    yield Built(root, image, base / "parity.yaml")
    _remove_containers(image)


def _remove_containers(image: str) -> None:
    """kfp.local leaves its exited containers behind, each holding disk on vfs."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"ancestor={image}"], capture_output=True, text=True, check=False
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def _run_with_kfp_local(yaml_path: Path, pipeline_root: Path, **arguments: Any) -> dict[str, Path]:
    """Output folders by `<task key>/<output>` of one run of the compiled YAML in containers."""
    from kfp import components, local

    name = parse_compiled(yaml_path).spec.pipeline_info.name
    local.init(runner=local.DockerRunner(), pipeline_root=str(pipeline_root))
    before = set(pipeline_root.glob(f"{name}-*")) if pipeline_root.exists() else set()
    components.load_component_from_file(str(yaml_path))(**arguments)
    (run_dir,) = set(pipeline_root.glob(f"{name}-*")) - before
    return {f"{p.parent.name}/{p.name}": p for p in run_dir.glob("*/*") if p.is_dir()}


def _compare_with_the_local_orchestrator(root: Path, target: str, yaml_path: Path, kfp_root: Path) -> int:
    """Run `target` on the local stack and its YAML with kfp.local; every output must match."""
    from zenml_kf import Repository
    from zenml_kf.source import load_target, resolve_type

    pipeline = load_target(f"{root}/{target}", root)
    repo = Repository(root)
    local_run = repo.get_stack().run(pipeline, repo)
    produced = _run_with_kfp_local(yaml_path, kfp_root)
    compared = 0
    for spec in pipeline.graph.steps:
        for out in spec.outputs:
            folder = produced[f"{task_key(spec.name)}/{out.name}"]
            expected_view = local_run.steps[spec.name].outputs[out.name]
            in_container = _read(folder, expected_view.materializer, resolve_type(out.data_type))
            expected = expected_view.read()
            assert _same(in_container, expected), (spec.name, out.name, in_container, expected)
            compared += 1
    return compared


def _read(folder: Path, materializer: str, data_type: type) -> Any:
    from zenml_kf.materializers.registry import load_materializer

    return load_materializer(materializer).load(folder, data_type)


def _same(a: Any, b: Any) -> bool:
    import math

    import numpy as np

    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "predict") and type(a) is type(b):  # a fitted model: same predictions
        probe = np.random.default_rng(0).random((16, 64))
        return bool(np.array_equal(a.predict(probe), b.predict(probe)))
    return type(a) is type(b) and a == b


def test_kfp_local_in_containers_matches_the_local_orchestrator(built: Built, tmp_path: Path) -> None:
    compared = _compare_with_the_local_orchestrator(
        built.root, "flows.py:parity_pipeline", built.yaml, tmp_path / "kfp-root"
    )
    assert compared == 5
    produced = _run_with_kfp_local(built.yaml, tmp_path / "again")
    assert (
        _read(produced["total/output"], "zenml_kf.materializers.builtin:BuiltInMaterializer", float) == 30.0
    )


def test_snake_case_names_renamed_steps_and_nan_match_in_containers(built: Built, tmp_path: Path) -> None:
    """Task keys differ from these step names (`load_data` is task `load-data`), and a
    step returns NaN, which the executor output must carry as strict JSON."""
    out = tmp_path / "awkward.yaml"
    result = run_cli(
        "compile", "flows.py:awkward_pipeline", "-o", str(out), "--image", built.image, cwd=built.root
    )
    assert result.code == 0, result
    assert (
        _compare_with_the_local_orchestrator(built.root, "flows.py:awkward_pipeline", out, tmp_path / "k")
        == 4
    )


def test_the_digits_example_matches_in_containers(
    built: Built, docker_engine: DockerSetup, tmp_path: Path
) -> None:
    """The README's example, with scikit-learn installed into its step image from the
    same wheelhouse; its accuracy is a system.Metrics artifact."""
    root = built.root.parent / "examples"
    if not root.exists():
        shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns("__pycache__"))
        git_init(root)
        from zenml_kf import Repository

        Repository.init(root)
        (root / "requirements.txt").write_text("scikit-learn\n")
    out = tmp_path / "digits.yaml"
    result = run_cli(
        "compile", "digits/pipeline.py:digits_pipeline_run", "-o", str(out), "--build",
        "-r", "requirements.txt", "--python-image", docker_engine.python_image,
        "--wheelhouse", str(built.yaml.parent / "wheelhouse"), cwd=root, timeout=1200,
    )  # fmt: skip
    assert result.code == 0, result
    compiled = parse_compiled(out)
    evaluator = compiled.spec.components["comp-evaluator"].output_definitions.artifacts["output"]
    assert evaluator.artifact_type.schema_title == "system.Metrics"
    try:
        compared = _compare_with_the_local_orchestrator(
            root, "digits/pipeline.py:digits_pipeline_run", out, tmp_path / "kfp-root"
        )
        assert compared == 8
    finally:
        _remove_containers(compiled.executor("importer")["image"])


def test_overriding_a_parameter_changes_the_result(built: Built, tmp_path: Path) -> None:
    produced = _run_with_kfp_local(built.yaml, tmp_path / "kfp-root", **{"scale-factor": 10.0})
    assert json.loads((produced["total/output"] / "data.json").read_text()) == 150.0
    assert json.loads((produced["stats/summary"] / "data.json").read_text()) == {"n": 6, "max": 50.0}


def test_the_image_holds_the_code_but_no_local_stores_or_secrets(built: Built) -> None:
    listing = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", built.image, "find", "/app", "-not", "-path", "*/__pycache__*"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout.split()  # fmt: skip
    assert "/app/flows.py" in listing
    assert not [p for p in listing if ".zen" in p or p.endswith(".env") or ".git" in p], listing


def test_an_unchanged_project_reuses_its_image(
    built: Built, docker_engine: DockerSetup, tmp_path: Path
) -> None:
    result = run_cli(
        "image", "build", "flows.py:parity_pipeline", "--python-image", docker_engine.python_image,
        "--wheelhouse", str(built.yaml.parent / "wheelhouse"), cwd=built.root, timeout=600,
    )  # fmt: skip
    assert result.code == 0, result
    assert f"Reusing image {built.image}" in result.out
    assert built.image in result.out.splitlines()[-1]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real image registry (Debian's docker-registry, the CNCF distribution server) on loopback."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry-data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("docker-registry did not start")
            time.sleep(0.2)
    yield address
    proc.terminate()
    proc.wait(timeout=10)


def test_push_sends_the_image_and_the_yaml_references_it_by_digest(
    built: Built, docker_engine: DockerSetup, registry: str, tmp_path: Path
) -> None:
    import urllib.request

    out = tmp_path / "pushed.yaml"
    result = run_cli(
        "compile", "flows.py:parity_pipeline", "-o", str(out), "--build", "--push",
        "--repository", f"{registry}/team/steps", "--python-image", docker_engine.python_image,
        "--wheelhouse", str(built.yaml.parent / "wheelhouse"), cwd=built.root, timeout=1200,
    )  # fmt: skip
    assert result.code == 0, result
    image = parse_compiled(out).executor("numbers")["image"]
    repository, _, digest = image.partition("@")
    assert repository == f"{registry}/team/steps" and digest.startswith("sha256:"), image
    request = urllib.request.Request(
        f"http://{registry}/v2/team/steps/manifests/{digest}",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Docker-Content-Digest"] == digest


def test_zenml_run_on_kubeflow_builds_pushes_and_then_reuses_the_image(
    built: Built,
    docker_engine: DockerSetup,
    registry: str,
    kfp_server: KFPServer,  # noqa: F811
) -> None:
    """`zenml run` on a kubeflow stack: build the content-tagged image, push it, submit YAML
    that names it by digest; unchanged code the second time reuses image and version."""
    import urllib.request

    wheelhouse = built.yaml.parent / "wheelhouse"
    for args in (
        ["artifact-store", "register", "kfbucket", "--flavor", "s3", "--path", "s3://ml/team"],
        ["metadata-store", "register", "kfmlmd", "--flavor", "grpc", "--host", "127.0.0.1"],
        ["orchestrator", "register", "kfdocker", "--flavor", "kubeflow", "--host", kfp_server.url,
         "--image-registry", f"{registry}/team/steps", "--python-image", docker_engine.python_image,
         "--wheelhouse", str(wheelhouse)],
        ["stack", "register", "kfdocker", "-o", "kfdocker", "-a", "kfbucket", "-m", "kfmlmd"],
    ):  # fmt: skip
        assert run_cli(*args, cwd=built.root).code == 0, args
    first = run_cli("run", "flows.py:parity_pipeline", "-s", "kfdocker", cwd=built.root, timeout=1200)
    assert first.code == 0, first
    # The pipeline's first upload, then its version named by content.
    [version] = [v for v in kfp_server.versions.values() if v["display_name"].startswith("parity-")]
    image = version["pipeline_spec"]["deploymentSpec"]["executors"]["exec-numbers"]["container"]["image"]
    repository, _, digest = image.partition("@")
    assert repository == f"{registry}/team/steps" and digest.startswith("sha256:"), image
    request = urllib.request.Request(
        f"http://{registry}/v2/team/steps/manifests/{digest}",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Docker-Content-Digest"] == digest

    second = run_cli("run", "flows.py:parity_pipeline", "-s", "kfdocker", cwd=built.root, timeout=1200)
    assert second.code == 0, second
    assert "Reusing image" in second.out and "unchanged, reused" in second.out
    versions = [v for v in kfp_server.versions.values() if v["display_name"].startswith("parity-")]
    assert versions == [version] and len(kfp_server.runs) == 2
