"""Fixtures: runs a KFP cluster recorded, in real stores and buckets, read through a stack.

The digits example and a pipeline with snake_case step names are compiled by our
compiler, their steps run once through the entrypoint (`launcher_mlmd.run_pods`), and
`launcher_mlmd.record_run` records runs of them as KFP 2.5 and 2.14 do, into an MLMD
store (sqlite, or the gRPC test server) with artifacts in a moto S3 or fake-gcs bucket.
A project then registers a stack on that store and bucket through the CLI, as a user
pointing zenml at a cluster's metadata-grpc-service and bucket would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.kubeflow_readback import launcher_mlmd as kfp
from tests.remote import remote_servers as rs
from tests.remote.conftest import (  # noqa: F401  (fixtures used here)
    Bucket,
    Project,
    _client_env,
    gcs_client,
    gcs_server,
    moto_server,
    unique,
)

REPO = Path(__file__).resolve().parents[2]
DIGITS_TARGET = "digits/pipeline.py:digits_pipeline_run"
SNAKE_TARGET = "snake/pipeline.py:snake_run"
IMAGE = "zenml-kf-steps:readback"

SNAKE_PIPELINE = '''\
"""Step names in snake_case, which become KFP tasks load-data and summarize-stats."""

import numpy as np

from zenml_kf import BaseStepConfig, Output, pipeline, step


class LoadConfig(BaseStepConfig):
    rows: int = 4
    scale: float = 2.0
    tags: list[str] = ["a", "b"]
    verbose: bool = True
    options: dict[str, int] = {"x": 1}


@step
def load_data(config: LoadConfig) -> Output(table=np.ndarray, row_count=int):
    table = np.arange(config.rows * 3, dtype=float).reshape(config.rows, 3) * config.scale
    return table, config.rows


@step
def summarize_stats(table: np.ndarray) -> dict[str, float]:
    return {"mean": float(table.mean()), "spread": float("nan")}


@pipeline
def snake_pipeline(load_data, summarize_stats):
    table, _ = load_data()
    summarize_stats(table=table)


snake_run = snake_pipeline(load_data=load_data(), summarize_stats=summarize_stats())
'''


@dataclass(frozen=True)
class Compiled:
    """A compiled pipeline, the graph it came from, and its pods' results."""

    pipeline: kfp.CompiledPipeline
    graph: Any  # zenml_kf.pipelines.graph.PipelineGraph
    pods: dict[str, kfp.PodRun]


@pytest.fixture(scope="session")
def code_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's code: the digits example and the snake_case pipeline."""
    root = tmp_path_factory.mktemp("readback") / "code"
    shutil.copytree(
        REPO / "examples" / "digits", root / "digits", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "snake").mkdir()
    (root / "snake" / "__init__.py").write_text("")
    (root / "snake" / "pipeline.py").write_text(SNAKE_PIPELINE)
    return root


def _compile(code_root: Path, target: str, workdir: Path) -> Compiled:
    from compiler import compile_graph
    from zenml_kf.source import load_target

    pipeline = load_target(f"{code_root}/{target}", code_root)
    path = compile_graph(pipeline.graph, IMAGE, workdir / "pipeline.yaml", code_root=code_root)
    compiled = kfp.load_compiled(path)
    return Compiled(compiled, pipeline.graph, kfp.run_pods(compiled, workdir / "pods", code_root))


@pytest.fixture(scope="session")
def digits(code_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    return _compile(code_root, DIGITS_TARGET, tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="session")
def snake(code_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    return _compile(code_root, SNAKE_TARGET, tmp_path_factory.mktemp("snake"))


# --- buckets, written with explicit test keys (session fixtures run before any env fixture) --


def _s3(server: rs.Server) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=rs.CLIENT_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=rs.CLIENT_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(flavor: str, server: rs.Server) -> tuple[Bucket, kfp.BucketWriter]:
    name = unique("zt-bucket")
    if flavor == "s3":
        client = _s3(server)
        client.create_bucket(Bucket=name)

        def put(key: str, path: Path) -> None:
            client.upload_file(str(path), name, key)

    else:
        gcs = gcs_client(server)
        gcs.create_bucket(name)
        handle = gcs.bucket(name)

        def put(key: str, path: Path) -> None:
            handle.blob(key).upload_from_filename(str(path))

    return Bucket(flavor, server, name), kfp.BucketWriter(name, put)


# --- a cluster's records and a stack on them ----------------------------------------------------


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One user project; each scenario registers its own stack in it."""
    import subprocess

    root = tmp_path_factory.mktemp("readback-project") / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    proj = Project(root)
    proj.ok("init")
    return proj


@dataclass
class Cluster:
    """KFP runs recorded in one MLMD store with artifacts in one bucket, and a stack on both."""

    version: kfp.Version
    flavor: str
    stack: str
    store: Any
    bucket: Bucket
    project: Project
    runs: dict[str, kfp.RecordedRun] = field(default_factory=dict)

    def repository(self) -> Any:
        return self.project.repository()

    def reader(self, **sources: Any) -> Any:
        """A MetadataReader on this stack, with status or graph sources."""
        from zenml_kf.metadata.views import MetadataReader

        stack = self.repository().get_stack(self.stack)
        return MetadataReader(stack.metadata_store.store, stack.artifact_store, **sources)


def register_stack(
    project: Project, name: str, bucket: Bucket, prefix: str, metadata_args: list[str]
) -> None:
    project.ok("metadata-store", "register", name, *metadata_args)
    project.ok("artifact-store", "register", name, *bucket.register_args(prefix))
    project.ok("stack", "register", name, "-o", "default", "-a", name, "-m", name)


PREFIX = "v2/artifacts"


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest) -> dict[str, rs.Server]:
    return {"s3": request.getfixturevalue("moto_server"), "gcp": request.getfixturevalue("gcs_server")}


@pytest.fixture(scope="session", params=[("2.5", "s3"), ("2.5", "gcp"), ("2.14", "s3"), ("2.14", "gcp")])
def cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    project: Project,
    servers: dict[str, rs.Server],
    digits: Compiled,
    snake: Compiled,
) -> Iterator[Cluster]:
    """A snake pipeline run, then a digits run (the latest), as one KFP version records them.

    2.14 on GCS goes through the gRPC test server (KFP's metadata-grpc-service stand-in),
    the others write the sqlite file directly.
    """
    version, flavor = request.param
    stack = f"kfp-{version.replace('.', '')}-{flavor}"
    db = tmp_path_factory.mktemp(stack) / "mlmd.db"
    server = rs.start_mlmd_grpc(db) if (version, flavor) == ("2.14", "gcp") else None
    try:
        store = kfp.open_store(db, server.port if server else None)
        bucket, writer = new_bucket(flavor, servers[flavor])
        root = f"{bucket.scheme}://{bucket.name}/{PREFIX}"
        endpoint = servers[flavor].endpoint
        runs = {
            "snake": kfp.record_run(
                store, version, snake.pipeline, snake.pods, writer, root, endpoint=endpoint
            ),
            "digits": kfp.record_run(
                store, version, digits.pipeline, digits.pods, writer, root, endpoint=endpoint, cache={}
            ),
        }
        metadata_args = (
            ["--flavor", "grpc", "--host", rs.HOST, "--port", str(server.port)]
            if server
            else ["--flavor", "sqlite", "--uri", str(db)]
        )
        register_stack(project, stack, bucket, PREFIX, metadata_args)
        yield Cluster(version, flavor, stack, store, bucket, project, runs)
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="session", params=kfp.VERSIONS)
def outcomes(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    project: Project,
    servers: dict[str, rs.Server],
    digits: Compiled,
) -> Cluster:
    """Digits runs of every outcome on one version, S3: a first run, a run served from the
    cache, a run whose first step failed, one whose trainer failed, and one still running."""
    version = request.param
    stack = f"outcomes-{version.replace('.', '')}"
    db = tmp_path_factory.mktemp(stack) / "mlmd.db"
    store = kfp.open_store(db)
    bucket, writer = new_bucket("s3", servers["s3"])
    root = f"s3://{bucket.name}/{PREFIX}"
    cache: dict[str, int] = {}

    def record(**kwargs: Any) -> kfp.RecordedRun:
        return kfp.record_run(
            store,
            version,
            digits.pipeline,
            digits.pods,
            writer,
            root,
            endpoint=servers["s3"].endpoint,
            **kwargs,
        )

    runs = {
        "first": record(cache=cache),
        "cached": record(cache=cache),
        "importer_failed": record(fail="importer"),
        "trainer_failed": record(fail="trainer"),
        "running": record(stop_at="trainer"),
    }
    register_stack(project, stack, bucket, PREFIX, ["--flavor", "sqlite", "--uri", str(db)])
    return Cluster(version, "s3", stack, store, bucket, project, runs)
