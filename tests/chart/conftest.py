"""Fixtures of the chart tests: the real helm binary (installed by scripts/install_helm.sh)
and the loopback servers of tests/remote for the helm-test script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart.helm_chart import Helm, install_helm
from tests.remote import remote_servers as servers


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(install_helm(), tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = servers.start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = servers.start_fake_gcs()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlmd_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = servers.start_mlmd_grpc(tmp_path_factory.mktemp("mlmd") / "mlmd.db")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def notes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notes")
