"""Remote flavors' settings and import cost: no server needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote.conftest import Project, assert_one_line_error
from zenml_kf.stack.flavors import FlavorRegistry
from zenml_kf.stack.types import ComponentType


def test_new_flavors_are_registered() -> None:
    flavors = FlavorRegistry()
    assert {"gcp", "s3", "local"} <= set(flavors.names(ComponentType.ARTIFACT_STORE))
    assert {"mysql", "grpc", "sqlite"} <= set(flavors.names(ComponentType.METADATA_STORE))
    for type_, name in [
        (ComponentType.ARTIFACT_STORE, "gcp"),
        (ComponentType.ARTIFACT_STORE, "s3"),
        (ComponentType.METADATA_STORE, "mysql"),
        (ComponentType.METADATA_STORE, "grpc"),
    ]:
        flavor = flavors.get(type_, name)
        assert flavor.implementation().__name__ and flavor.config_class().__name__


def test_listing_and_loading_flavors_imports_no_cloud_sdk() -> None:
    code = (
        "import sys, json\n"
        "from zenml_kf.stack.flavors import FlavorRegistry\n"
        "from zenml_kf.stack.types import ComponentType as T\n"
        "r = FlavorRegistry()\n"
        "for t, n in [(T.ARTIFACT_STORE, 'gcp'), (T.ARTIFACT_STORE, 's3'),"
        " (T.METADATA_STORE, 'mysql'),"
        " (T.METADATA_STORE, 'grpc')]:\n"
        "    r.get(t, n).config_class(); r.get(t, n).implementation()\n"
        "heavy = ('boto3', 'botocore', 'google.cloud', 'google.auth', 'ml_metadata', 'grpc')\n"
        "found = [m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)]\n"
        "print(json.dumps(sorted(found)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--flavor", "s3", "--path", "gs://b/p"], ["path must start with s3://"]),
        (["--flavor", "gcp", "--bucket", "b", "--path", "gs://b/p"], ["not both"]),
        (["--flavor", "s3"], ["set path"]),
        (["--flavor", "s3", "--bucket", "b", "--access-key-id-env", "K"], ["together"]),
        (
            [
                "--flavor",
                "gcp",
                "--path",
                "gs://b",
                "--credentials-env",
                '{"type": "service_account"}',
            ],
            ["not the secret itself"],
        ),
        (["--flavor", "s3", "--bucket", "b", "--max-concurrency", "0"], ["max_concurrency"]),
    ],
)
def test_bad_artifact_store_settings_are_one_line_errors(
    project: Project, args: list[str], fragments: list[str]
) -> None:
    assert_one_line_error(project.cli("artifact-store", "register", "bad", *args), *fragments)
    assert "bad:" not in (project.root / ".zen" / "config.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--flavor", "mysql", "--password-env", "A", "--password-file", "f"], ["not both"]),
        (["--flavor", "mysql", "--password-env", "hunter2!"], ["not the secret itself"]),
        (["--flavor", "mysql", "--ssl-cert", "c.pem"], ["together"]),
        (["--flavor", "grpc", "--client-cert-file", "c.pem"], ["together"]),
        (["--flavor", "grpc", "--port", "0"], ["port"]),
    ],
)
def test_bad_metadata_store_settings_are_one_line_errors(
    project: Project, args: list[str], fragments: list[str]
) -> None:
    assert_one_line_error(project.cli("metadata-store", "register", "bad", *args), *fragments)


def test_settings_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ZENML_KF_<TYPE>_<SETTING> overrides the registry, e.g. an endpoint inside a cluster."""
    from zenml_kf.artifact_stores.s3 import S3ArtifactStore, S3ArtifactStoreConfig
    from zenml_kf.metadata.grpc import GRPCMetadataStore, GRPCMetadataStoreConfig

    monkeypatch.setenv("ZENML_KF_ARTIFACT_STORE_ENDPOINT_URL", "http://minio.minio:9000")
    monkeypatch.setenv("ZENML_KF_METADATA_STORE_HOST", "metadata-grpc-service.kubeflow")
    store = S3ArtifactStore("s", "s3", S3ArtifactStoreConfig(path="s3://bucket/some/prefix/"), tmp_path)
    assert store.config.endpoint_url == "http://minio.minio:9000"
    assert store.root_uri == "s3://bucket/some/prefix"
    assert store.artifact_uri("p", "r", "s", "o") == "s3://bucket/some/prefix/p/r/s/o"
    meta = GRPCMetadataStore("g", "grpc", GRPCMetadataStoreConfig(), tmp_path)
    assert meta.address == "grpc://metadata-grpc-service.kubeflow:8080"


def test_tls_settings_reach_the_mlmd_connection_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zenml_kf.metadata.grpc import GRPCMetadataStore, GRPCMetadataStoreConfig
    from zenml_kf.metadata.mysql import MySQLMetadataStore, MySQLMetadataStoreConfig

    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text(f"-----PEM {name}-----\n")
    grpc_config = GRPCMetadataStoreConfig(
        ca_file="ca.pem", client_cert_file="client.pem", client_key_file="client.key"
    )
    grpc_store = GRPCMetadataStore("g", "grpc", grpc_config, tmp_path)
    config = grpc_store.connection_config()
    assert grpc_store.address.startswith("grpcs://")
    assert config.ssl_config.custom_ca == "-----PEM ca.pem-----\n"
    assert config.ssl_config.server_cert == "-----PEM client.pem-----\n"
    assert config.client_timeout_sec == 30

    monkeypatch.setenv("ZT_PW", "s3cret")
    mysql_config = MySQLMetadataStoreConfig(
        password_env="ZT_PW",
        ssl_ca="ca.pem",
        ssl_cert="client.pem",
        ssl_key="client.key",
        ssl_verify_server_cert=True,
    )
    mysql_store = MySQLMetadataStore("m", "mysql", mysql_config, tmp_path)
    config = mysql_store.connection_config()
    assert config.mysql.password == "s3cret"
    assert config.mysql.ssl_options.ca == str(tmp_path / "ca.pem")
    assert config.mysql.ssl_options.verify_server_cert
    assert "s3cret" not in str(mysql_store.describe())
