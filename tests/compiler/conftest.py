"""Fixtures of the compiler tests: a copy of the test project, compiled YAML parsed into
KFP's own PipelineSpec proto, and (marker `docker`) a real Docker engine."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docker_engine import docker_engine  # noqa: F401  (fixture for the image tests)

PROJECT = Path(__file__).parent / "project"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: needs a Docker engine (scripts/setup_docker.sh starts one); slow"
    )


@dataclass
class Compiled:
    path: Path
    text: str
    spec: Any  # kfp.pipeline_spec.pipeline_spec_pb2.PipelineSpec
    platform: dict[str, Any]  # the kfp-kubernetes platform spec document, {} when none

    def executor(self, step: str) -> dict[str, Any]:
        from google.protobuf import json_format

        deployment = json_format.MessageToDict(self.spec.deployment_spec)
        return dict(deployment["executors"][f"exec-{task_key(step)}"]["container"])

    def k8s(self, step: str) -> dict[str, Any]:
        executors = self.platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
        return dict(executors.get("executors", {}).get(f"exec-{task_key(step)}", {}))


def task_key(step: str) -> str:
    from compiler.build import task_key as key

    return key(step)


def parse_compiled(path: Path) -> Compiled:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    from tests.compiler.backend_rules import check_pipeline

    text = path.read_text()
    docs = list(yaml.safe_load_all(text))
    spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())
    platform = docs[1] if len(docs) > 1 else {}
    check_pipeline(docs[0], platform)  # every compiled pipeline keeps the KFP backends' rules
    return Compiled(path, text, spec, platform)


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test project copied to a temporary code root (as a user's repository would be)."""
    root = tmp_path_factory.mktemp("compiler") / "project"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="session")
def compile_flow(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """compile_flow('linear_pipeline') -> Compiled, in-process, cached per pipeline."""
    from compiler import compile_graph
    from zenml_kf.source import load_target

    out = tmp_path_factory.mktemp("yaml")
    cache: dict[str, Compiled] = {}

    def compile_one(attr: str, image: str = "zenml-kf-steps:test") -> Compiled:
        key = f"{attr}@{image}"
        if key not in cache:
            pipeline = load_target(f"{project}/flows.py:{attr}", project)
            path = compile_graph(pipeline.graph, image, out / f"{attr}.yaml", code_root=project)
            cache[key] = parse_compiled(path)
        return cache[key]

    yield compile_one
