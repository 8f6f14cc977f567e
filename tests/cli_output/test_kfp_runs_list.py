"""`zenml runs list --limit/--status` on a kubeflow stack, against the loopback KFP API
server that checks every request (and its `filter` JSON) against KFP 2.5.0's contract."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_output.terminal import piped, too_wide
from tests.conftest import git_init, run_cli
from tests.kubeflow.kfp_api_server import KFPServer

PROJECT = Path(__file__).resolve().parents[1] / "compiler" / "project"
IMAGE = "registry.example.com/team/steps@sha256:" + "ab" * 32


@pytest.fixture
def kfp_server() -> Iterator[KFPServer]:
    server = KFPServer().start()
    try:
        yield server
    finally:
        server.close()
    assert server.server_errors == []
    assert server.violations == [], f"requests broke the KFP API contract: {server.violations}"


def test_kfp_runs_list_honours_limit_and_status(tmp_path: Path, kfp_server: KFPServer) -> None:
    root = tmp_path / "project"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    git_init(root)
    for args in (
        ["init"],
        ["artifact-store", "register", "bucket", "--flavor", "s3", "--path", "s3://ml-artifacts/team"],
        ["metadata-store", "register", "kfp", "--flavor", "grpc", "--host", "127.0.0.1", "--port", "8080"],
        ["orchestrator", "register", "kf", "--flavor", "kubeflow", "--host", kfp_server.url],
        ["stack", "register", "prod", "-o", "kf", "-a", "bucket", "-m", "kfp", "--set"],
    ):
        assert run_cli(*args, cwd=root).code == 0, args
    for _ in range(3):
        result = run_cli("run", "flows.py:linear_pipeline", "--image", IMAGE, cwd=root)
        assert result.code == 0, result
    oldest, middle, newest = sorted(kfp_server.runs.values(), key=lambda r: (r["created_at"], r["run_id"]))
    middle["state"] = "FAILED"
    newest["state"] = "SUCCEEDED"
    oldest["state"] = "SUCCEEDED"

    def names(*args: str) -> list[str]:
        code, out, err = piped("runs", "list", *args, cwd=root, columns=200)
        assert code == 0, err
        return [r["display_name"] for r in (oldest, middle, newest) if r["display_name"] in out]

    assert names() == [oldest["display_name"], middle["display_name"], newest["display_name"]]
    assert names("--limit", "1") == [newest["display_name"]]
    assert names("--status", "failed") == [middle["display_name"]]
    assert names("--status", "completed", "--limit", "5") == [oldest["display_name"], newest["display_name"]]
    code, out, _ = piped("runs", "list", "--status", "running", cwd=root)
    assert code == 0 and out.startswith("No running runs yet"), out
    filters = [str(r.query.get("filter", "")) for r in kfp_server.requests if r.path.endswith("/runs")]
    assert any('"state"' in f and "FAILED" in f for f in filters), filters
    code, out, _ = piped("runs", "list", "--limit", "1", cwd=root)
    assert code == 0 and too_wide(out, 200) == []
