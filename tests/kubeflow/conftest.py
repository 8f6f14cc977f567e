"""Fixtures for tests that talk to Kubeflow Pipelines: a loopback KFP 2.5 API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kubeflow.kfp_api_server import KFPServer


@pytest.fixture
def kfp_server() -> Iterator[KFPServer]:
    """A started loopback KFP API server, closed after the test.

    The test fails at teardown if any request broke the KFP contract (the server answered it
    400 and listed it in `violations`), because a real KFP would have rejected or silently
    misread it. A test that sends bad requests on purpose sets `allow_violations = True`.
    It also fails if the server itself raised while answering (a bug in the test server).
    """
    server = KFPServer().start()
    try:
        yield server
    finally:
        server.close()
    assert server.server_errors == [], f"the loopback KFP server failed: {server.server_errors}"
    if not server.allow_violations:
        assert server.violations == [], f"requests broke the KFP API contract: {server.violations}"
