"""The loopback KFP API server, driven by the real `kfp.Client` (kfp 2.13) as a user drives it.

These tests pin down what the server models, so that tests of our own submission code can
trust it: if `kfp.Client` works against it, the request fits KFP 2.5's contract, and where
KFP 2.5 answers with an error, so does the server (with the same status and error shape).
"""

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kfp
import kfp.client.client as kfp_client_module
import pytest
import yaml
from kfp import compiler, dsl
from kfp.components import load_component_from_text
from kfp_server_api import ApiException

from tests.kubeflow.kfp_api_server import CronError, KFPServer, parse_cron

# kfp.Client warns on every construction that it needs KFP >= 2.0.0-beta.2.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

TOKEN = "s3cret-token"

ECHO = """
name: Echo
inputs:
- {name: msg, type: String}
- {name: n, type: Integer, default: "3"}
implementation:
  container:
    image: alpine:3
    command: [echo, {inputValue: msg}, {inputValue: n}]
"""


@pytest.fixture(autouse=True)
def _no_kfp_context_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kfp.Client reads (and in multi-user mode may write) ~/.config/kfp/context.json: keep it out."""
    monkeypatch.setattr(kfp_client_module.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))


@pytest.fixture(scope="module")
def pipeline_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real compiled pipeline: one container component with a required and an optional input."""
    echo = load_component_from_text(ECHO)

    @dsl.pipeline(name="tiny-pipeline")  # type: ignore[untyped-decorator]
    def tiny_pipeline(msg: str, n: int = 3) -> None:
        echo(msg=msg, n=n)

    path = tmp_path_factory.mktemp("pipeline") / "tiny.yaml"
    compiler.Compiler().compile(tiny_pipeline, str(path))
    return path


def _client(server: KFPServer, **kwargs: Any) -> kfp.Client:
    return kfp.Client(host=server.url, **kwargs)


def _raw(
    server: KFPServer, method: str, path: str, body: Any = None, timeout: float = 5
) -> tuple[int, dict[str, Any]]:
    """A request without kfp's client, for what kfp.Client would never send."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _error(info: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body = json.loads(info.value.body)
    assert isinstance(body, dict)
    return body


def _upload(client: kfp.Client, pipeline_yaml: Path, name: str = "tiny") -> tuple[str, str]:
    pipeline = client.upload_pipeline(str(pipeline_yaml), pipeline_name=name)
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    return pipeline.pipeline_id, version.pipeline_version_id


def _port(server: KFPServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_healthz_tells_single_from_multi_user(kfp_server: KFPServer) -> None:
    client = _client(kfp_server)
    assert client.get_kfp_healthz().multi_user is False
    kfp_server.set_namespaces({"team-a"})
    assert client.get_kfp_healthz().multi_user is True
    assert _raw(kfp_server, "GET", "/apis/v2beta1/healthz") == (
        200,
        {"commit_sha": "test", "tag_name": "2.5.0", "multi_user": True},
    )
    # kfp.Client() asks healthz whether to look for an in-cluster namespace.
    assert kfp_server.requests[0].path == "/apis/v2beta1/healthz"


def test_upload_pipeline_and_versions(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    client = _client(kfp_server)
    pipeline = client.upload_pipeline(str(pipeline_yaml), pipeline_name="tiny", description="a test")
    assert (pipeline.display_name, pipeline.description) == ("tiny", "a test")
    upload = kfp_server.last("POST", "/pipelines/upload")
    assert upload.query == {"name": ["tiny"], "description": ["a test"]}
    assert upload.body["files"]["uploadfile"] == pipeline_yaml.read_bytes()

    v2 = client.upload_pipeline_version(str(pipeline_yaml), "v2", pipeline_id=pipeline.pipeline_id)
    assert v2.pipeline_id == pipeline.pipeline_id
    assert kfp_server.last("POST", "/pipelines/upload_version").query == {
        "name": ["v2"],
        "pipelineid": [pipeline.pipeline_id],
    }
    # get_pipeline_id lists with a display_name filter (camelCase "stringValue", numeric operation).
    assert client.get_pipeline_id("tiny") == pipeline.pipeline_id
    assert client.get_pipeline_id("missing") is None

    versions = client.list_pipeline_versions(pipeline.pipeline_id, sort_by="created_at desc")
    assert versions.total_size == 2
    assert sorted(v.display_name for v in versions.pipeline_versions) == ["tiny", "v2"]
    by_name = json.dumps({"predicates": [{"key": "name", "operation": "EQUALS", "string_value": "v2"}]})
    only = client.list_pipeline_versions(pipeline.pipeline_id, filter=by_name)
    assert [v.pipeline_version_id for v in only.pipeline_versions] == [v2.pipeline_version_id]

    fetched = client.get_pipeline_version(pipeline.pipeline_id, v2.pipeline_version_id)
    assert fetched.pipeline_spec == yaml.safe_load(pipeline_yaml.read_text())
    assert (
        kfp_server.versions[v2.pipeline_version_id]["pipeline_spec"]["pipelineInfo"]["name"]
        == "tiny-pipeline"
    )
    assert client.get_pipeline(pipeline.pipeline_id).display_name == "tiny"


def test_pipeline_errors_are_kfps(kfp_server: KFPServer, pipeline_yaml: Path, tmp_path: Path) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)

    # The multipart upload handler is not behind grpc-gateway: its errors are {error_message, error_details}.
    with pytest.raises(ApiException) as info:
        client.upload_pipeline(str(pipeline_yaml), pipeline_name="tiny")
    assert info.value.status == 409
    assert "The name tiny already exists" in _error(info)["error_message"]
    with pytest.raises(ApiException) as info:
        client.upload_pipeline_version(str(pipeline_yaml), "tiny", pipeline_id=pipeline_id)
    assert info.value.status == 409

    # KFP 2.5 answers an invalid spec in an upload with 500, not 400.
    spec = yaml.safe_load(pipeline_yaml.read_text())
    spec["pipelineInfo"]["name"] = "Not_MLMD_Safe"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(ApiException) as info:
        client.upload_pipeline(str(bad), pipeline_name="bad")
    assert info.value.status == 500
    assert "must contain only lowercase alphanumeric characters" in _error(info)["error_message"]

    # JSON endpoints answer grpc-gateway's {error, code, message, details}.
    with pytest.raises(ApiException) as info:
        client.get_pipeline("no-such-pipeline")
    assert info.value.status == 404
    body = _error(info)
    assert body["code"] == 5 and "Pipeline no-such-pipeline not found" in body["message"]
    assert body["details"][0]["message"] == "Pipeline no-such-pipeline not found"

    # A run of a version KFP cannot find fails while fetching the manifest: KFP wraps that as Internal.
    experiment = client.create_experiment("exp")
    with pytest.raises(ApiException) as info:
        client.run_pipeline(
            experiment.experiment_id, "r", params={"msg": "hi"}, pipeline_id=pipeline_id, version_id="nope"
        )
    assert (info.value.status, _error(info)["code"]) == (500, 13)
    assert "PipelineVersion nope not found" in _error(info)["message"]

    with pytest.raises(ApiException) as info:
        client.delete_pipeline(pipeline_id)
    assert info.value.status == 400 and "has existing pipeline versions" in _error(info)["message"]
    client.delete_pipeline_version(pipeline_id, version_id)
    client.delete_pipeline(pipeline_id)
    assert kfp_server.pipelines == {} and kfp_server.versions == {}


def test_experiments(kfp_server: KFPServer) -> None:
    client = _client(kfp_server)
    experiment = client.create_experiment("exp-1", description="first")
    assert client.get_experiment(experiment_id=experiment.experiment_id).display_name == "exp-1"
    assert client.get_experiment(experiment_name="exp-1").experiment_id == experiment.experiment_id
    # kfp.Client looks the name up first, so creating it again returns the same experiment ...
    assert client.create_experiment("exp-1").experiment_id == experiment.experiment_id
    # ... while the API itself refuses a duplicate name.
    status, body = _raw(kfp_server, "POST", "/apis/v2beta1/experiments", {"display_name": "exp-1"})
    assert (status, body["code"]) == (409, 6)

    client.archive_experiment(experiment.experiment_id)
    assert client.get_experiment(experiment_id=experiment.experiment_id).storage_state == "ARCHIVED"
    client.unarchive_experiment(experiment.experiment_id)
    assert client.get_experiment(experiment_id=experiment.experiment_id).storage_state == "AVAILABLE"
    client.delete_experiment(experiment.experiment_id)
    with pytest.raises(ApiException) as info:
        client.get_experiment(experiment_id=experiment.experiment_id)
    assert info.value.status == 404


def test_run_pipeline_with_a_version_and_parameters(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)
    experiment = client.create_experiment("exp")
    run = client.run_pipeline(
        experiment.experiment_id,
        "run-1",
        params={"msg": "hi", "n": 5},
        pipeline_id=pipeline_id,
        version_id=version_id,
        pipeline_root="s3://bucket/root",
    )
    assert run.state == "PENDING"
    fetched = client.get_run(run.run_id)
    assert fetched.runtime_config.parameters == {"msg": "hi", "n": 5}
    assert fetched.runtime_config.pipeline_root == "s3://bucket/root"
    assert fetched.pipeline_version_reference.pipeline_version_id == version_id
    assert fetched.service_account == "pipeline-runner"
    assert kfp_server.last("POST", "/runs").body["runtime_config"]["parameters"] == {"msg": "hi", "n": 5}
    assert [r.run_id for r in client.list_runs(experiment_id=experiment.experiment_id).runs] == [run.run_id]
    assert (
        client.get_experiment(experiment_id=experiment.experiment_id).last_run_created_at
        == fetched.created_at
    )

    # A pipeline package is sent inline as pipeline_spec; no experiment means KFP's "Default".
    inline = client.create_run_from_pipeline_package(str(pipeline_yaml), arguments={"msg": "x"})
    stored = kfp_server.runs[inline.run_id]
    assert stored["pipeline_spec"]["pipelineInfo"]["name"] == "tiny-pipeline"
    assert kfp_server.experiments[stored["experiment_id"]]["display_name"] == "Default"

    client.archive_run(run.run_id)
    assert client.get_run(run.run_id).storage_state == "ARCHIVED"
    client.delete_run(run.run_id)
    with pytest.raises(ApiException) as info:
        client.get_run(run.run_id)
    assert info.value.status == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"msg": "hi", "colour": "red"}, "parameter(s) provided are not required by pipeline: colour"),
        ({"n": 1}, "parameter msg is not optional, yet has neither default value nor user provided value"),
        ({"msg": "hi", "n": "5"}, "input parameter n requires type double or integer"),
    ],
)
def test_run_parameters_are_checked_against_pipeline_inputs(
    kfp_server: KFPServer, pipeline_yaml: Path, params: dict[str, Any], message: str
) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)
    experiment = client.create_experiment("exp")
    with pytest.raises(ApiException) as info:
        client.run_pipeline(
            experiment.experiment_id, "r", params=params, pipeline_id=pipeline_id, version_id=version_id
        )
    assert info.value.status == 400
    assert message in _error(info)["message"]


def test_a_scripted_run_advances_on_each_get(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)
    experiment = client.create_experiment("exp")
    task = {"task_id": "t-1", "display_name": "echo", "create_time": "2025-01-01T00:00:00Z"}
    kfp_server.script_run(
        ["RUNNING", "SUCCEEDED"],
        task_details=[[{**task, "state": "RUNNING"}], [{**task, "state": "SUCCEEDED"}]],
    )
    run = client.run_pipeline(
        experiment.experiment_id, "r", params={"msg": "hi"}, pipeline_id=pipeline_id, version_id=version_id
    )
    assert run.state == "RUNNING"
    assert run.run_details.task_details[0].state == "RUNNING"
    done = client.get_run(run.run_id)
    assert done.state == "SUCCEEDED"
    assert done.run_details.task_details[0].display_name == "echo"
    assert done.run_details.task_details[0].run_id == run.run_id
    assert [s.state for s in done.state_history] == ["RUNNING", "SUCCEEDED"]
    assert done.finished_at.year >= 2025
    assert client.wait_for_run_completion(run.run_id, timeout=5).state == "SUCCEEDED"

    # Only the next run follows the script.
    other = client.run_pipeline(
        experiment.experiment_id, "r2", params={"msg": "hi"}, pipeline_id=pipeline_id, version_id=version_id
    )
    assert client.get_run(other.run_id).state == "PENDING"

    with pytest.raises(ValueError, match="not V2beta1RuntimeState"):
        kfp_server.script_run(["DONE"])
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        kfp_server.script_run(["RUNNING"], [[{"task_id": "t", "colour": "red"}]])


def test_terminate_run(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)
    experiment = client.create_experiment("exp")
    kfp_server.script_run(["RUNNING"])
    run = client.run_pipeline(
        experiment.experiment_id, "r", params={"msg": "hi"}, pipeline_id=pipeline_id, version_id=version_id
    )
    client.terminate_run(run.run_id)
    assert kfp_server.runs[run.run_id]["state"] == "CANCELING"
    assert client.get_run(run.run_id).state == "CANCELED"
    # storage/run_store.go only terminates PENDING, RUNNING and PAUSED runs.
    with pytest.raises(ApiException) as info:
        client.terminate_run(run.run_id)
    assert info.value.status == 400
    with pytest.raises(ApiException) as info:
        client.terminate_run("no-such-run")
    assert info.value.status == 404


def test_recurring_run_lifecycle(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)
    experiment = client.create_experiment("exp")
    recurring = client.create_recurring_run(
        experiment.experiment_id,
        "nightly",
        cron_expression="0 0 3 * * *",
        params={"msg": "x"},
        pipeline_id=pipeline_id,
        version_id=version_id,
        max_concurrency=2,
        no_catchup=True,
        start_time="2030-01-01T00:00:00.500Z",
    )
    rid = recurring.recurring_run_id
    assert (recurring.status, recurring.mode) == ("ENABLED", "ENABLE")
    assert recurring.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert kfp_server.recurring_runs[rid]["trigger"]["cron_schedule"]["start_time"] == "2030-01-01T00:00:00Z"
    assert (recurring.max_concurrency, recurring.no_catchup) == ("2", True)
    assert recurring.namespace == "kubeflow"  # single-user KFP puts it in its own namespace

    client.disable_recurring_run(rid)
    assert client.get_recurring_run(rid).status == "DISABLED"
    client.enable_recurring_run(rid)
    assert client.get_recurring_run(rid).status == "ENABLED"
    periodic = client.create_recurring_run(
        experiment.experiment_id,
        "hourly",
        interval_second=3600,
        params={"msg": "x"},
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    assert periodic.trigger.periodic_schedule.interval_second == "3600"
    listed = client.list_recurring_runs(experiment_id=experiment.experiment_id, sort_by="display_name")
    assert [r.display_name for r in listed.recurring_runs] == ["hourly", "nightly"]

    client.delete_recurring_run(rid)
    client.delete_recurring_run(periodic.recurring_run_id)
    assert client.list_recurring_runs(experiment_id=experiment.experiment_id).recurring_runs is None
    with pytest.raises(ApiException) as info:
        client.get_recurring_run(rid)
    assert info.value.status == 404


def test_invalid_cron_and_concurrency_are_rejected(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    client = _client(kfp_server)
    pipeline_id, version_id = _upload(client, pipeline_yaml)
    experiment = client.create_experiment("exp")

    def create(cron: str, **kwargs: Any) -> Any:
        return client.create_recurring_run(
            experiment.experiment_id,
            f"r-{len(kfp_server.recurring_runs)}",
            cron_expression=cron,
            params={"msg": "x"},
            pipeline_id=pipeline_id,
            version_id=version_id,
            **kwargs,
        )

    with pytest.raises(ApiException) as info:
        create("0 3 * *")
    body = _error(info)
    assert (info.value.status, body["code"]) == (400, 3)
    assert "Schedule cron is not a supported format" in body["message"]
    assert "Expected 5 to 6 fields, found 4: 0 3 * *" in body["message"]
    with pytest.raises(ApiException) as info:
        create("0 0 3 * * 7")  # robfig/cron v1: day-of-week is 0-6
    assert info.value.status == 400 and "End of range (7) above maximum (6)" in _error(info)["message"]
    with pytest.raises(ApiException) as info:
        create("0 0 3 * * *", max_concurrency=11)
    assert info.value.status == 400 and "Max concurrency" in _error(info)["message"]

    # KFP 2.5 parses crons with robfig/cron v1's optional day-of-week, so a Unix-style 5-field
    # cron is accepted -- and means "second 0 of minute 3 of every hour", not "03:00 daily".
    accepted = create("0 3 * * *")
    assert accepted.trigger.cron_schedule.cron == "0 3 * * *"


@pytest.mark.parametrize(
    "cron", ["0 0 3 * * *", "0 3 * * *", "0 */15 9-17 * * MON-FRI", "0 0 0 1 jan ?", "@daily", "@every 1h30m"]
)
def test_crons_robfig_v1_accepts(cron: str) -> None:
    parse_cron(cron)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("", "Empty spec string"),
        ("0 3 * *", "Expected 5 to 6 fields, found 4: 0 3 * *"),
        ("0 0 3 * * * 2030", "Expected 5 to 6 fields, found 7"),
        ("0 0 24 * * *", "End of range (24) above maximum (23): 24"),
        ("0 0 0 0 * *", "Beginning of range (0) below minimum (1): 0"),
        ("*/0 * * * * *", "Step of range should be a positive number"),
        ("0 0 1-2-3 * * *", "Too many hyphens: 1-2-3"),
        ("0 0 x * * *", "Failed to parse int from x"),
        ("@every 1d", "Failed to parse duration @every 1d"),
        ("@nightly", "Unrecognized descriptor: @nightly"),
    ],
)
def test_crons_robfig_v1_rejects(cron: str, message: str) -> None:
    with pytest.raises(CronError, match=message.replace("*", r"\*").replace("(", r"\(").replace(")", r"\)")):
        parse_cron(cron)


def test_listing_pages_sorts_and_filters(kfp_server: KFPServer) -> None:
    client = _client(kfp_server)
    for i in range(5):
        client.create_experiment(f"exp-{i}")
    names: list[str] = []
    token, pages = "", 0
    while True:
        page = client.list_experiments(page_size=2, page_token=token, sort_by="display_name")
        names += [e.display_name for e in page.experiments]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert (names, pages) == ([f"exp-{i}" for i in range(5)], 3)
    assert page.total_size == 5

    desc = client.list_experiments(sort_by="display_name desc")
    assert [e.display_name for e in desc.experiments] == [f"exp-{i}" for i in reversed(range(5))]
    some = json.dumps(
        {
            "predicates": [
                {"key": "display_name", "operation": "IN", "stringValues": {"values": ["exp-1", "exp-3"]}}
            ]
        }
    )
    assert sorted(e.display_name for e in client.list_experiments(filter=some).experiments) == [
        "exp-1",
        "exp-3",
    ]

    first = client.list_experiments(page_size=2, sort_by="display_name")
    with pytest.raises(ApiException) as info:
        client.list_experiments(page_size=2, page_token=first.next_page_token, sort_by="display_name desc")
    assert info.value.status == 400 and "page token does not match" in _error(info)["message"]
    with pytest.raises(ApiException) as info:
        client.list_experiments(sort_by="colour")
    assert info.value.status == 400 and "Invalid sorting field" in _error(info)["message"]
    unknown_key = json.dumps(
        {"predicates": [{"key": "colour", "operation": "EQUALS", "string_value": "red"}]}
    )
    with pytest.raises(ApiException) as info:
        client.list_experiments(filter=unknown_key)
    assert info.value.status == 400 and 'unrecognized field "colour"' in _error(info)["message"]
    with pytest.raises(ApiException) as info:
        client.list_experiments(filter='{"predicates": [{"key": "display_name", "op": 1}]}')
    assert info.value.status == 400 and "failed to parse valid filter" in _error(info)["message"]
    forged = base64.b64encode(json.dumps({"ModelName": "experiments", "SortByFieldName": "Nope"}).encode())
    with pytest.raises(ApiException) as info:
        client.list_experiments(page_token=forged.decode())
    assert info.value.status == 400 and "Invalid package token" in _error(info)["message"]


def test_require_token(kfp_server: KFPServer) -> None:
    # Clients are built before the server asks for a token: kfp.Client() calls healthz and,
    # on an error, retries it five times five seconds apart.
    anonymous = _client(kfp_server)
    authed = _client(kfp_server, existing_token=TOKEN)
    wrong = _client(kfp_server, existing_token="not-the-token")
    kfp_server.require_token(TOKEN)
    with pytest.raises(ApiException) as info:
        anonymous.list_experiments()
    assert info.value.status == 401 and _error(info)["code"] == 16
    with pytest.raises(ApiException) as info:
        wrong.list_experiments()
    assert info.value.status == 403 and _error(info)["code"] == 7
    assert authed.list_experiments().experiments is None
    assert kfp_server.last("GET", "/experiments").headers["authorization"] == f"Bearer {TOKEN}"


def test_a_client_without_credentials_times_out_on_healthz(
    kfp_server: KFPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a user sees when a token is missing: kfp.Client() itself gives up on healthz."""
    kfp_server.require_token(TOKEN)
    monkeypatch.setattr(kfp_client_module.time, "sleep", lambda seconds: None)
    with pytest.raises(TimeoutError, match="Failed getting healthz endpoint after 5 attempts"):
        kfp.Client(host=kfp_server.url)
    assert [r.status for r in kfp_server.requests] == [401] * 5


def test_require_cookie(kfp_server: KFPServer) -> None:
    session = _client(kfp_server, cookies="authservice_session=abc")
    stale = _client(kfp_server, cookies="authservice_session=old")
    anonymous = _client(kfp_server)
    kfp_server.require_cookie("authservice_session", "abc")
    assert session.list_experiments().experiments is None
    assert kfp_server.last("GET", "/experiments").headers["cookie"] == "authservice_session=abc"
    with pytest.raises(ApiException) as info:
        stale.list_experiments()
    assert info.value.status == 403
    with pytest.raises(ApiException) as info:
        anonymous.list_experiments()
    assert info.value.status == 401 and "authservice_session" in _error(info)["message"]


def test_multi_user_namespaces(kfp_server: KFPServer, pipeline_yaml: Path) -> None:
    kfp_server.set_namespaces({"team-a"})
    team_a = _client(kfp_server, namespace="team-a")
    team_b = _client(kfp_server, namespace="team-b")
    experiment = team_a.create_experiment("exp")
    assert experiment.namespace == "team-a"
    assert [e.experiment_id for e in team_a.list_experiments().experiments] == [experiment.experiment_id]

    with pytest.raises(ApiException) as info:
        team_b.list_experiments()
    body = _error(info)
    assert (info.value.status, body["code"]) == (403, 7)
    assert "is not authorized" in body["message"] and "team-b" in body["message"]

    # Runs take their namespace from their experiment; multi-user KFP needs an experiment id.
    pipeline_id, version_id = _upload(team_a, pipeline_yaml)
    run = team_a.run_pipeline(
        experiment.experiment_id, "r", params={"msg": "hi"}, pipeline_id=pipeline_id, version_id=version_id
    )
    assert [r.run_id for r in team_a.list_runs().runs] == [run.run_id]
    status, body = _raw(
        kfp_server,
        "POST",
        "/apis/v2beta1/runs",
        {"display_name": "r", "pipeline_version_reference": {"pipeline_version_id": version_id}},
    )
    assert status == 400 and "Experiment id can not be empty in multi-user mode" in body["message"]


def test_contract_violations_are_answered_400_and_recorded(kfp_server: KFPServer) -> None:
    kfp_server.allow_violations = True
    status, body = _raw(kfp_server, "POST", "/apis/v2beta1/runs", {"display_name": "r", "bogus_field": 1})
    assert (status, body["code"]) == (400, 3)
    assert "unknown field 'bogus_field'" in body["message"]
    status, body = _raw(kfp_server, "GET", "/apis/v2beta1/experiments?pageSize=5")
    assert status == 400 and "query parameter 'pageSize' is not declared" in body["message"]
    status, body = _raw(kfp_server, "GET", "/apis/v2beta1/runs?page_size=ten")
    assert status == 400 and "not an int32" in body["message"]
    status, body = _raw(kfp_server, "POST", "/apis/v2beta1/experiments", {"display_name": 5})
    assert status == 400 and "expected a string" in body["message"]
    status, body = _raw(kfp_server, "DELETE", "/apis/v2beta1/healthz")
    assert status == 400 and "method DELETE is not declared" in body["message"]
    status, body = _raw(kfp_server, "GET", "/apis/v1beta1/runs")
    assert status == 400 and "no swagger path template" in body["message"]

    assert len(kfp_server.violations) == 6
    assert "bogus_field" in kfp_server.violations[0] and "POST /apis/v2beta1/runs" in kfp_server.violations[0]
    assert kfp_server.last("POST", "/runs").status == 400
    assert kfp_server.last("POST", "/runs").body == {"display_name": "r", "bogus_field": 1}


def test_stop_answering_hangs_requests(kfp_server: KFPServer) -> None:
    kfp_server.stop_answering()
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        _raw(kfp_server, "GET", "/apis/v2beta1/healthz", timeout=2)
    assert time.monotonic() - started >= 1.9
    assert kfp_server.last("GET", "/healthz").status == 0


def _bindable(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now (with SO_REUSEADDR, as servers set it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def own_server() -> Iterator[KFPServer]:
    server = KFPServer().start()
    yield server
    server.close()


def test_close_frees_the_port(own_server: KFPServer) -> None:
    port = _port(own_server)
    assert own_server.url == f"http://127.0.0.1:{port}"
    assert not _bindable(port)
    assert _raw(own_server, "GET", "/apis/v2beta1/healthz")[0] == 200
    own_server.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert _bindable(port)
    own_server.close()  # closing twice is harmless
