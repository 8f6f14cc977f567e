"""`zenml run` and `p.run()` on a kubeflow stack, against a loopback KFP API that checks
every request against KFP's REST contract (tests/kubeflow/kfp_api_server.py).

The steps run in a named image (`--image`), so no Docker is needed; building and pushing
the image is the compiler's Docker tests' business.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLIResult, assert_clean_error, git_init, run_cli
from tests.kubeflow.kfp_api_server import KFPServer

PROJECT = Path(__file__).resolve().parents[1] / "compiler" / "project"
IMAGE = "registry.example.com/team/steps@sha256:" + "ab" * 32
BUCKET = "s3://ml-artifacts/team"


@dataclass
class KFProject:
    root: Path
    server: KFPServer
    env: dict[str, str]

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CLIResult:
        return run_cli(*args, cwd=self.root, env={**self.env, **(env or {})}, timeout=timeout)

    def ok(self, *args: str, env: dict[str, str] | None = None) -> CLIResult:
        result = self.cli(*args, env=env)
        assert result.code == 0, result
        return result


@pytest.fixture
def kf(tmp_path: Path, kfp_server: KFPServer) -> KFProject:
    """A committed project with a kubeflow stack registered as the README says."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    git_init(root)
    project = KFProject(root, kfp_server, {"ZENML_KF_ORCHESTRATOR_REQUEST_TIMEOUT_SECONDS": "3"})
    project.ok("init")
    project.ok("artifact-store", "register", "bucket", "--flavor", "s3", "--path", BUCKET)
    project.ok(
        "metadata-store", "register", "kfp", "--flavor", "grpc", "--host", "127.0.0.1", "--port", "8080"
    )
    project.ok(
        "orchestrator", "register", "kf", "--flavor", "kubeflow", "--host", kfp_server.url,
        "--poll-seconds", "0.05",
    )  # fmt: skip
    project.ok("stack", "register", "prod", "-o", "kf", "-a", "bucket", "-m", "kfp", "--set")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "steps and stack"], cwd=root, check=True, env=_git_env())
    return project


def _git_env() -> dict[str, str]:
    import os

    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def _uploads(server: KFPServer) -> list[str]:
    return [
        r.path.rsplit("/", 1)[-1] for r in server.requests if r.path.endswith(("/upload", "/upload_version"))
    ]


def test_run_uploads_the_compiled_yaml_and_starts_a_run_with_its_parameters(kf: KFProject) -> None:
    result = kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE)
    [run] = kf.server.runs.values()
    assert f"KFP UI: {kf.server.url}/#/runs/details/{run['run_id']}" in result.out
    assert run["display_name"].startswith("linear-") and run["display_name"] in result.out
    assert run["runtime_config"]["parameters"] == {"scale-factor": 3.0}
    assert run["runtime_config"]["pipeline_root"] == BUCKET
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=kf.root, capture_output=True, text=True).stdout
    assert commit.strip() in run["description"] and "uncommitted" not in run["description"]
    [experiment] = kf.server.experiments.values()
    assert experiment["display_name"] == "linear" and run["experiment_id"] == experiment["experiment_id"]

    # The uploaded file is the one `zenml compile` writes for this stack, to the byte.
    kf.ok("compile", "flows.py:linear_pipeline", "--image", IMAGE, "-o", "linear.yaml")
    [version] = [v for v in kf.server.versions.values() if v["display_name"].startswith("linear-")]
    compiled = yaml.safe_load((kf.root / "linear.yaml").read_text())
    assert version["pipeline_spec"] == compiled
    assert compiled["defaultPipelineRoot"] == BUCKET
    assert run["pipeline_version_reference"]["pipeline_version_id"] == version["pipeline_version_id"]


def test_an_unchanged_pipeline_reuses_its_version_and_a_change_adds_one(kf: KFProject) -> None:
    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE)
    first = _uploads(kf.server)
    second = kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE)
    assert _uploads(kf.server) == first  # nothing uploaded again
    assert "unchanged, reused" in second.out and len(kf.server.runs) == 2
    (kf.root / "cfg.yaml").write_text("steps:\n  scale:\n    parameters: {factor: 5.0}\n")
    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE, "--config", "cfg.yaml")
    assert _uploads(kf.server) == [*first, "upload_version"]
    assert len(kf.server.pipelines) == 1  # every version under one pipeline
    newest = list(kf.server.runs.values())[-1]  # created_at has whole seconds: two runs may share one
    assert newest["runtime_config"]["parameters"] == {"scale-factor": 5.0}


@pytest.mark.parametrize(
    ("states", "code", "said"),
    [
        (["RUNNING", "SUCCEEDED"], 0, "succeeded"),
        (["RUNNING", "FAILED"], 1, "ended FAILED"),
        (["RUNNING", "CANCELING", "CANCELED"], 1, "ended CANCELED"),
    ],
)
def test_wait_follows_the_run_and_exits_by_its_end_state(
    kf: KFProject, states: list[str], code: int, said: str
) -> None:
    task = {"display_name": "scale", "state": "RUNNING", "task_id": "t1"}
    details = [[], [task], *([[{**task, "state": "SUCCEEDED"}]] * (len(states) - 1))]
    kf.server.script_run(["PENDING", *states], details)  # creation reports PENDING
    result = kf.cli("run", "flows.py:linear_pipeline", "--image", IMAGE, "--wait")
    assert result.code == code, result
    assert said in (result.out + result.err)
    assert "scale: running" in result.out and "scale: succeeded" in result.out
    if code:
        assert_clean_error(result, "ended")


def test_wait_gives_up_on_a_server_that_stops_answering(kf: KFProject) -> None:
    """The server hangs while the run is followed: the request times out, exit 1."""
    import threading
    import time

    kf.server.script_run(["RUNNING"])

    def hang_once_submitted() -> None:
        deadline = time.monotonic() + 60
        while not kf.server.runs and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        kf.server.stop_answering()

    watcher = threading.Thread(target=hang_once_submitted, daemon=True)
    watcher.start()
    started = time.monotonic()
    result = kf.cli("run", "flows.py:linear_pipeline", "--image", IMAGE, "--wait", timeout=90)
    assert_clean_error(result, "did not answer within 3 s")
    assert time.monotonic() - started < 60
    assert "Submitted run" in result.out


def test_python_api_returns_a_handle_that_waits(kf: KFProject, monkeypatch: pytest.MonkeyPatch) -> None:
    from zenml_kf.source import load_target

    monkeypatch.chdir(kf.root)
    monkeypatch.setenv("ZENML_KF_ORCHESTRATOR_REQUEST_TIMEOUT_SECONDS", "3")
    kf.server.script_run(["PENDING", "RUNNING", "SUCCEEDED"])
    pipeline = load_target(f"{kf.root}/flows.py:diamond_pipeline", kf.root)
    handle = pipeline.run(image=IMAGE)
    assert handle.run_id in kf.server.runs
    assert handle.url.endswith(f"/#/runs/details/{handle.run_id}")
    assert handle.wait().state == "SUCCEEDED"
    params = kf.server.runs[handle.run_id]["runtime_config"]["parameters"]
    assert params == {"left-offset": 1, "right-offset": 10}


def test_token_and_cookie_are_sent_and_refusals_are_one_line(kf: KFProject) -> None:
    kf.server.require_token("s3cr3t-token")
    assert_clean_error(kf.cli("run", "flows.py:linear_pipeline", "--image", IMAGE), "401", "token_env")
    kf.ok(
        "orchestrator",
        "register",
        "kf-token",
        "--flavor",
        "kubeflow",
        "--host",
        kf.server.url,
        "--token-env",
        "KFP_TOKEN",
    )
    kf.ok("stack", "register", "tok", "-o", "kf-token", "-a", "bucket", "-m", "kfp")
    wrong = kf.cli(
        "run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "tok", env={"KFP_TOKEN": "nope"}
    )
    assert_clean_error(wrong, "403")
    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "tok", env={"KFP_TOKEN": "s3cr3t-token"})
    assert kf.server.last("POST", "/runs").headers["authorization"] == "Bearer s3cr3t-token"
    assert "s3cr3t-token" not in (kf.root / ".zen" / "config.yaml").read_text()

    kf.server.require_token(None)
    kf.server.require_cookie("oauth2_proxy", "session-value")
    kf.ok(
        "orchestrator",
        "register",
        "kf-cookie",
        "--flavor",
        "kubeflow",
        "--host",
        kf.server.url,
        "--cookie-env",
        "KFP_COOKIE",
    )
    kf.ok("stack", "register", "cookie", "-o", "kf-cookie", "-a", "bucket", "-m", "kfp")
    cookie = {"KFP_COOKIE": "oauth2_proxy=session-value"}
    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "cookie", env=cookie)
    assert "oauth2_proxy=session-value" in kf.server.last("POST", "/runs").headers["cookie"]


def test_an_unknown_namespace_is_refused_in_one_line(kf: KFProject) -> None:
    kf.server.set_namespaces({"team-a"})
    kf.ok(
        "orchestrator",
        "register",
        "kf-b",
        "--flavor",
        "kubeflow",
        "--host",
        kf.server.url,
        "--namespace",
        "team-b",
    )
    kf.ok("stack", "register", "b", "-o", "kf-b", "-a", "bucket", "-m", "kfp")
    assert_clean_error(
        kf.cli("run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "b"), "403", "team-b"
    )
    kf.ok(
        "orchestrator",
        "register",
        "kf-a",
        "--flavor",
        "kubeflow",
        "--host",
        kf.server.url,
        "--namespace",
        "team-a",
    )
    kf.ok("stack", "register", "a", "-o", "kf-a", "-a", "bucket", "-m", "kfp")
    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "a")
    again = kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "a")
    assert "unchanged, reused" in again.out  # the namespace's own pipeline is found again
    [experiment] = kf.server.experiments.values()
    assert experiment["namespace"] == "team-a"
    [pipeline] = kf.server.pipelines.values()
    assert pipeline.get("namespace") == "team-a"


def test_an_unreachable_host_is_one_line(kf: KFProject) -> None:
    from tests.remote.remote_servers import free_port

    kf.ok(
        "orchestrator",
        "register",
        "gone",
        "--flavor",
        "kubeflow",
        "--host",
        f"http://127.0.0.1:{free_port()}",
    )
    kf.ok("stack", "register", "gone", "-o", "gone", "-a", "bucket", "-m", "kfp")
    assert_clean_error(
        kf.cli("run", "flows.py:linear_pipeline", "--image", IMAGE, "-s", "gone"), "cannot reach KFP"
    )


def test_a_push_without_an_image_registry_is_one_line(kf: KFProject) -> None:
    result = kf.cli("run", "flows.py:linear_pipeline")
    assert_clean_error(result, "no image_registry", "--image")
    assert not kf.server.runs


def test_schedules_are_created_listed_paused_resumed_and_deleted(kf: KFProject) -> None:
    created = kf.ok(
        "run", "flows.py:linear_pipeline", "--image", IMAGE, "--schedule", "0 3 * * *", "--no-catchup"
    )
    [recurring] = kf.server.recurring_runs.values()
    rid = recurring["recurring_run_id"]
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"  # KFP's cron has seconds first
    assert recurring["no_catchup"] is True and rid in created.out
    assert recurring["runtime_config"]["parameters"] == {"scale-factor": 3.0}
    listed = kf.ok("schedules", "list").out
    assert rid in listed and "cron 0 0 3 * * *" in listed
    kf.ok("schedules", "pause", rid)
    assert kf.server.recurring_runs[rid]["status"] == "DISABLED"
    kf.ok("schedules", "resume", rid)
    assert kf.server.recurring_runs[rid]["status"] == "ENABLED"
    kf.ok("schedules", "delete", rid)
    assert not kf.server.recurring_runs

    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE, "--every", "3600")
    [periodic] = kf.server.recurring_runs.values()
    assert int(periodic["trigger"]["periodic_schedule"]["interval_second"]) == 3600


@pytest.mark.parametrize("cron", ["61 * * * *", "0 3 * *", "0 0 25 * * *", "@sometimes"])
def test_a_cron_kfp_would_reject_is_one_line_and_sends_nothing(kf: KFProject, cron: str) -> None:
    before = len(kf.server.requests)
    assert_clean_error(kf.cli("run", "flows.py:linear_pipeline", "--image", IMAGE, "--schedule", cron), cron)
    assert len(kf.server.requests) == before


def test_runs_list_shows_kfp_runs_with_their_links(kf: KFProject) -> None:
    kf.ok("run", "flows.py:linear_pipeline", "--image", IMAGE)
    [run] = kf.server.runs.values()
    listed = kf.ok("runs", "list").out
    assert run["display_name"] in listed and f"#/runs/details/{run['run_id']}" in listed


def test_compile_on_a_kubeflow_stack_uses_its_registry_root_and_settings(kf: KFProject) -> None:
    kf.ok(
        "orchestrator", "register", "kf-reg", "--flavor", "kubeflow", "--host", kf.server.url,
        "--image-registry", "registry.example.com/team/steps", "--settings", '{"memory_limit": "2Gi"}',
    )  # fmt: skip
    kf.ok("stack", "register", "reg", "-o", "kf-reg", "-a", "bucket", "-m", "kfp")
    kf.ok("compile", "flows.py:linear_pipeline", "-o", "out.yaml", "-s", "reg")
    compiled = yaml.safe_load((kf.root / "out.yaml").read_text())
    assert compiled["defaultPipelineRoot"] == BUCKET
    container = compiled["deploymentSpec"]["executors"]["exec-numbers"]["container"]
    assert container["image"].startswith("registry.example.com/team/steps:")
    assert container["resources"]["memoryLimit"] == 2.147483648  # KFP writes GB as a number
    assert not kf.server.requests or all(r.path.endswith("healthz") for r in kf.server.requests)


def test_register_kubeflow_stack_by_flavor_and_refuse_local_stores(
    kfp_server: KFPServer, tmp_path: Path
) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git_init(root)
    env = {"ZENML_KF_ORCHESTRATOR_HOST": kfp_server.url, "ZENML_KF_ORCHESTRATOR_NAMESPACE": "team-a"}
    assert run_cli("init", cwd=root).code == 0
    assert (
        run_cli("artifact-store", "register", "gcs", "--flavor", "gcp", "--path", "gs://b/p", cwd=root).code
        == 0
    )
    assert run_cli("metadata-store", "register", "kfp", "--flavor", "grpc", "--host", "h", cwd=root).code == 0
    result = run_cli(
        "stack", "register", "prod", "--orchestrator", "kubeflow", "--artifact-store", "gcs",
        "--metadata-store", "kfp", cwd=root, env=env,
    )  # fmt: skip
    assert result.code == 0, result
    assert (
        "Registered orchestrator 'kubeflow' (flavor kubeflow" in result.out and kfp_server.url in result.out
    )
    config = yaml.safe_load((root / ".zen" / "config.yaml").read_text())
    assert config["orchestrators"]["kubeflow"] == {
        "flavor": "kubeflow",
        "config": {"host": kfp_server.url, "namespace": "team-a"},
    }
    before = (root / ".zen" / "config.yaml").read_text()
    for args, fragment in (
        (["-a", "default", "-m", "kfp"], "artifact store is a folder on this machine"),
        (["-a", "gcs", "-m", "default"], "metadata store is a sqlite file"),
    ):
        refused = run_cli("stack", "register", "bad", "-o", "kubeflow", *args, cwd=root)
        assert_clean_error(refused, fragment)
    fresh = run_cli("stack", "register", "bad2", "-o", "kubeflow-2", "-a", "default", "-m", "kfp", cwd=root)
    assert_clean_error(fresh, "unknown orchestrator 'kubeflow-2'")
    assert (root / ".zen" / "config.yaml").read_text() == before  # nothing half-written


def test_ctrl_c_while_waiting_leaves_the_run_going(kf: KFProject) -> None:
    """Without a terminal to ask in, Ctrl-C stops following and the run goes on in KFP."""
    import os
    import signal
    import time

    from tests.conftest import ZENML, _clean_env

    kf.server.script_run(["RUNNING"])
    proc = subprocess.Popen(
        [ZENML, "run", "flows.py:linear_pipeline", "--image", IMAGE, "--wait"],
        cwd=kf.root,
        env={**_clean_env(), **kf.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not kf.server.runs and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # following by now
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    [run] = kf.server.runs.values()
    assert f"Stopped following; run {run['run_id']} goes on in KFP" in out
    assert "Traceback" not in err
    assert not any(r.path.endswith(":terminate") for r in kf.server.requests)


def test_ctrl_c_in_a_terminal_asks_and_terminates_the_run(kf: KFProject) -> None:
    import os
    import pty
    import signal
    import time

    from tests.conftest import ZENML, _clean_env

    kf.server.script_run(["RUNNING"])
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [ZENML, "run", "flows.py:linear_pipeline", "--image", IMAGE, "--wait"],
        cwd=kf.root,
        env={**_clean_env(), **kf.env},
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(terminal)
    deadline = time.monotonic() + 60
    while not kf.server.runs and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    os.write(controller, b"y\n")
    out, err = proc.communicate(timeout=60)
    os.close(controller)
    assert proc.returncode == 130, (out, err)
    [run] = kf.server.runs.values()
    assert "Terminate run" in out and f"Asked KFP to terminate run {run['run_id']}" in out
    assert any(r.path.endswith(f"{run['run_id']}:terminate") for r in kf.server.requests)
