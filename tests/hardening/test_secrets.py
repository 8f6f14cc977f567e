"""No credential reaches `.zen/`, a run's ML Metadata, CLI output or compiled YAML."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import CLIResult, assert_clean_error, git_init, run_cli
from zenml_kf.secrets import check_env_name, has_userinfo, looks_like_secret, redact

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI2K7MDENGbPxRfiCYEXAMPLEKEY"
AWS_SECRET_SLASHED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
URL_PASSWORD = "urlPassw0rdXyz"
MYSQL_PASSWORD = "mysqlPw0rdQrs"
ENV_OVERRIDE_PASSWORD = "envOverridePw0rd"
GH_TOKEN = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK_TOKEN = "xoxb-123456789012-abcdefABCDEF"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlMTIz"
DB_URL_PASSWORD = "dbUrlPw0rdMno"
SECRETS = [
    AWS_KEY_ID,
    AWS_SECRET,
    "wJalrXUtnFEMI",
    URL_PASSWORD,
    MYSQL_PASSWORD,
    ENV_OVERRIDE_PASSWORD,
    GH_TOKEN,
    SLACK_TOKEN,
    JWT,
    DB_URL_PASSWORD,
]

PIPELINE = textwrap.dedent(
    """
    from zenml_kf import pipeline, step


    @step
    def make() -> int:
        return 21


    @step
    def double(x: int) -> int:
        return 2 * x


    @pipeline
    def demo(make, double):
        double(make())


    p = demo(make=make(), double=double())
    """
)

# Each refused input: CLI arguments and what the one-line error must say.
REFUSED = {
    "s3 key id as env name": (
        [
            "artifact-store",
            "register",
            "x",
            "--flavor",
            "s3",
            "--bucket",
            "b",
            "--access-key-id-env",
            AWS_KEY_ID,
            "--secret-access-key-env",
            "MY_SECRET_KEY",
        ],
        ["access_key_id_env", "not the secret itself"],
    ),
    "s3 secret as env name": (
        [
            "artifact-store",
            "register",
            "x",
            "--flavor",
            "s3",
            "--bucket",
            "b",
            "--access-key-id-env",
            "MY_KEY_ID",
            "--secret-access-key-env",
            AWS_SECRET,
        ],
        ["secret_access_key_env", "not the secret itself"],
    ),
    "s3 slashed secret as env name": (
        [
            "artifact-store",
            "register",
            "x",
            "--flavor",
            "s3",
            "--bucket",
            "b",
            "--access-key-id-env",
            "MY_KEY_ID",
            "--secret-access-key-env",
            AWS_SECRET_SLASHED,
        ],
        ["secret_access_key_env", "not the secret itself"],
    ),
    "s3 session token as env name": (
        ["artifact-store", "register", "x", "--flavor", "s3", "--bucket", "b", "--session-token-env", JWT],
        ["session_token_env", "not the secret itself"],
    ),
    "s3 endpoint with userinfo": (
        [
            "artifact-store",
            "register",
            "x",
            "--flavor",
            "s3",
            "--bucket",
            "b",
            "--endpoint-url",
            f"http://{AWS_KEY_ID}:{URL_PASSWORD}@minio:9000",
        ],
        ["endpoint_url", "holds credentials", "access_key_id_env"],
    ),
    "gcp endpoint with userinfo": (
        [
            "artifact-store",
            "register",
            "x",
            "--flavor",
            "gcp",
            "--bucket",
            "b",
            "--endpoint-url",
            f"http://u:{URL_PASSWORD}@gcs:4443",
        ],
        ["endpoint_url", "holds credentials", "credentials_env"],
    ),
    "gcp credentials token as env name": (
        [
            "artifact-store",
            "register",
            "x",
            "--flavor",
            "gcp",
            "--bucket",
            "b",
            "--credentials-env",
            GH_TOKEN,
        ],
        ["credentials_env", "not the secret itself"],
    ),
    "mysql host with userinfo": (
        ["metadata-store", "register", "x", "--flavor", "mysql", "--host", f"u:{MYSQL_PASSWORD}@db"],
        ["host", "holds credentials", "password_env"],
    ),
    "mysql user with password": (
        ["metadata-store", "register", "x", "--flavor", "mysql", "--user", f"root:{MYSQL_PASSWORD}"],
        ["user", "password_env"],
    ),
    "mysql password as env name": (
        ["metadata-store", "register", "x", "--flavor", "mysql", "--password-env", MYSQL_PASSWORD],
        ["password_env", "not the secret itself"],
    ),
    "grpc host with userinfo": (
        ["metadata-store", "register", "x", "--flavor", "grpc", "--host", f"u:{MYSQL_PASSWORD}@mlmd"],
        ["host", "holds credentials"],
    ),
    "kubeflow host with userinfo": (
        ["orchestrator", "register", "x", "--flavor", "kubeflow", "--host", f"http://u:{URL_PASSWORD}@kfp"],
        ["host", "holds credentials", "token_env"],
    ),
    "kubeflow token as env name": (
        ["orchestrator", "register", "x", "--flavor", "kubeflow", "--token-env", SLACK_TOKEN],
        ["token_env", "not the secret itself"],
    ),
    "kubeflow key id as cookie env": (
        ["orchestrator", "register", "x", "--flavor", "kubeflow", "--cookie-env", AWS_KEY_ID],
        ["cookie_env", "not the secret itself"],
    ),
    "kubeflow index url with userinfo": (
        [
            "orchestrator",
            "register",
            "x",
            "--flavor",
            "kubeflow",
            "--index-url",
            f"https://u:{URL_PASSWORD}@pypi",
        ],
        ["index_url", "holds credentials"],
    ),
    "kubeflow default settings with a secret value": (
        [
            "orchestrator",
            "register",
            "x",
            "--flavor",
            "kubeflow",
            "--settings",
            json.dumps({"env": {"MODE": GH_TOKEN}}),
        ],
        ["settings", "secret_env"],
    ),
}

# Step `env` settings refused by `zenml compile` (name, value, what the error says).
REFUSED_STEP_ENV = {
    "DB_PASS": ("DB_PASS", "x", "looks like a credential"),
    "APIKEY": ("APIKEY", "x", "looks like a credential"),
    "GH_PAT": ("GH_PAT", "x", "looks like a credential"),
    "AUTH_HEADER": ("AUTH_HEADER", "x", "looks like a credential"),
    "HF_AUTH": ("HF_AUTH", "x", "looks like a credential"),
    "SSH_KEY": ("SSH_KEY", "x", "looks like a credential"),
    "DATABASE_URL": ("DATABASE_URL", "x", "looks like a credential"),
    "PG_DSN": ("PG_DSN", "x", "looks like a credential"),
    "userinfo value": ("TARGET", f"postgres://u:{DB_URL_PASSWORD}@h/db", "the value of 'TARGET'"),
    "key id value": ("MODE", AWS_KEY_ID, "the value of 'MODE'"),
    "aws secret value": ("MODE", AWS_SECRET, "the value of 'MODE'"),
    "github token value": ("MODE", GH_TOKEN, "the value of 'MODE'"),
    "slack token value": ("MODE", SLACK_TOKEN, "the value of 'MODE'"),
    "jwt value": ("MODE", JWT, "the value of 'MODE'"),
    "secret as a name": (AWS_KEY_ID, "x", "looks like an access key or token"),
}


class Session:
    """A zenml repository; every command's output is kept to be searched afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outputs: list[tuple[str, str]] = []  # (what ran, what it printed)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> CLIResult:
        result = run_cli(*args, cwd=self.root, env=env)
        self.outputs.append(
            (f"the output of zenml {args[0]} {args[1] if len(args) > 1 else ''}", result.out + result.err)
        )
        return result

    def ok(self, *args: str, env: dict[str, str] | None = None) -> CLIResult:
        result = self.cli(*args, env=env)
        assert result.code == 0, result
        return result


@pytest.fixture
def session(tmp_path: Path) -> Session:
    root = tmp_path / "project"
    root.mkdir()
    git_init(root)
    (root / "pipe.py").write_text(PIPELINE)
    project = Session(root)
    project.ok("init")
    return project


def _hits(text: str | bytes, where: str) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [f"{secret!r} in {where}" for secret in SECRETS if secret.encode() in data]


def _mlmd_dump(path: Path) -> str:
    """Every context, execution and artifact in an MLMD sqlite file, with all properties."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    items = [*store.get_contexts(), *store.get_executions(), *store.get_artifacts()]
    assert items, f"no runs recorded in {path}"
    return "\n".join(str(item) for item in items)


def test_no_secret_reaches_config_metadata_output_or_yaml(session: Session, tmp_path: Path) -> None:
    # 1. Every credential route at registration is refused, and says so in one line.
    for args, fragments in REFUSED.values():
        assert_clean_error(session.cli(*args), *fragments)

    # 2. Lawful remote components (registration does not connect) and a stack of them.
    session.ok(
        "artifact-store", "register", "s3ok", "--flavor", "s3", "--bucket", "b",
        "--endpoint-url", "http://127.0.0.1:1", "--access-key-id-env", "MY_KEY_ID",
        "--secret-access-key-env", "MY_SECRET_KEY",
    )  # fmt: skip
    session.ok("metadata-store", "register", "my", "--flavor", "mysql", "--password-env", "MY_DB_PW")
    session.ok("orchestrator", "register", "kf", "--flavor", "kubeflow", "--token-env", "KFP_TOKEN")
    session.ok("stack", "register", "remote", "-o", "default", "-a", "s3ok", "-m", "my")
    for command in (["stack", "describe", "remote"], ["artifact-store", "describe", "s3ok"]):
        session.ok(*command)

    # 3. Env overrides carrying credentials are validated like registered settings...
    leaky_overrides = {
        "ZENML_KF_ARTIFACT_STORE_ENDPOINT_URL": f"http://u:{ENV_OVERRIDE_PASSWORD}@minio:9000",
        "ZENML_KF_ARTIFACT_STORE_ACCESS_KEY_ID_ENV": AWS_KEY_ID,
        "ZENML_KF_ARTIFACT_STORE_SECRET_ACCESS_KEY_ENV": AWS_SECRET,
        "ZENML_KF_METADATA_STORE_HOST": f"root:{MYSQL_PASSWORD}@db",
        "ZENML_KF_ORCHESTRATOR_TOKEN_ENV": GH_TOKEN,
    }
    for name, value in leaky_overrides.items():
        for command in (
            ["stack", "describe", "remote"],
            ["artifact-store", "describe", "s3ok"],
            ["metadata-store", "describe", "my"],
            ["orchestrator", "describe", "kf"],
            ["run", "pipe.py:p", "-s", "remote"],
        ):
            result = session.cli(*command, env={name: value})
            if name.removeprefix("ZENML_KF_").lower().startswith(command[0].replace("-", "_")) or (
                command[0] in ("stack", "run") and not name.startswith("ZENML_KF_ORCHESTRATOR")
            ):
                assert_clean_error(result, "invalid settings")

    # 4. ...and what an override slips into a lawful setting is masked in describe output
    # and in the run's MLMD record.
    secret_dir = tmp_path / AWS_SECRET
    overrides = {"ZENML_KF_METADATA_STORE_URI": str(secret_dir / "mlmd.sqlite")}
    session.ok("run", "pipe.py:p", env=overrides)
    described = session.ok("stack", "describe", env=overrides)
    assert "***" in described.out, described
    session.ok("metadata-store", "describe", "default", env=overrides)
    listing = session.ok("runs", "list", env=overrides)
    run_id = next(w for w in listing.out.split() if w.startswith("demo-"))
    session.ok("runs", "describe", run_id, env=overrides)
    mlmd = _mlmd_dump(secret_dir / "mlmd.sqlite")
    assert '"metadata_store"' in mlmd or "metadata_store" in mlmd

    # 5. A step error naming an unset variable (a name, never a secret) on the s3 stack.
    failed = session.cli("run", "pipe.py:p", "-s", "remote")
    assert failed.code != 0

    # 6. Step env: credentials refused by compile; a lawful config compiles.
    for name, value, _ in REFUSED_STEP_ENV.values():
        (session.root / "bad.yaml").write_text(json.dumps({"settings": {"env": {name: value}}}))
        assert_clean_error(session.cli("compile", "pipe.py:p", "-c", "bad.yaml", "-o", "bad-out.yaml"))
    good = {
        "settings": {
            "env": {"MODE": "fast", "TOKENIZERS_PARALLELISM": "false", "PATH_PREFIX": "/data"},
            "secret_env": {"DB_PASSWORD": {"secret": "db", "key": "password"}},
        }
    }
    (session.root / "good.yaml").write_text(json.dumps(good))
    session.ok("compile", "pipe.py:p", "-c", "good.yaml", "-o", "out.yaml")
    compiled = (session.root / "out.yaml").read_text()
    assert "TOKENIZERS_PARALLELISM" in compiled and "DB_PASSWORD" in compiled

    hits = _hits(mlmd, "the run's MLMD record") + _hits(
        (secret_dir / "mlmd.sqlite").read_bytes(), "the MLMD sqlite file"
    )
    default_mlmd = session.root / ".zen" / "local_stores"
    for path in sorted((session.root / ".zen").rglob("*")):
        if path.is_file():
            hits += _hits(path.read_bytes(), str(path.relative_to(session.root)))
    assert any(default_mlmd.rglob("*")), "the s3 stack's run left no record"
    hits += _hits(compiled, "the compiled YAML")
    for command, output in session.outputs:
        hits += _hits(output, command)
    assert not hits, hits


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_credential_settings_are_refused_in_one_line(session: Session, case: str) -> None:
    args, fragments = REFUSED[case]
    result = session.cli(*args)
    assert_clean_error(result, *fragments)
    assert not _hits(result.out + result.err, "the error")
    assert not _hits((session.root / ".zen" / "config.yaml").read_text(), "config.yaml")


@pytest.mark.parametrize("case", list(REFUSED_STEP_ENV), ids=list(REFUSED_STEP_ENV))
def test_credential_step_env_is_refused_in_one_line(session: Session, case: str) -> None:
    name, value, fragment = REFUSED_STEP_ENV[case]
    (session.root / "bad.yaml").write_text(json.dumps({"settings": {"env": {name: value}}}))
    result = session.cli("compile", "pipe.py:p", "-c", "bad.yaml", "-o", "out.yaml")
    assert_clean_error(result, fragment, "secret_env")
    assert not _hits(result.out + result.err, "the error")
    assert not (session.root / "out.yaml").exists()


@pytest.mark.parametrize(
    "value",
    [AWS_KEY_ID, "ASIAY34FZKBOKMUTVV7A", AWS_SECRET, AWS_SECRET_SLASHED, GH_TOKEN, SLACK_TOKEN, JWT,
     "glpat-abcdefghij0123456789", "hf_" + "aB3" * 12, "ABCDEF0123456789ABCDEF0123"],
)  # fmt: skip
def test_secret_shapes_are_recognised_and_masked(value: str) -> None:
    assert looks_like_secret(value)
    assert redact({"a": [f"x {value} y"]}) == {"a": ["x *** y"]}
    with pytest.raises(ValueError) as info:
        check_env_name(value)
    assert value not in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["MY_SECRET", "KFP_TOKEN", "TOKENIZERS_PARALLELISM", "s3://bucket/prefix", "http://127.0.0.1:9000",
     "0123456789abcdef0123456789abcdef01234567", "sha256:" + "ab" * 32, "me@example.com",
     "data/Train2023/ImageNetSubset/Validation", "MyVeryLongPythonClassNameForTesting2",
     "sentence-transformers/all-MiniLM-L6-v2", "python:3.11-slim", "2024-01-01T00:00:00+00:00"],
)  # fmt: skip
def test_ordinary_values_are_left_alone(value: str) -> None:
    assert not looks_like_secret(value)
    assert redact(value) == value


def test_userinfo_is_found_and_masked() -> None:
    assert has_userinfo("http://AKIAX:secret@host:9000/p") and has_userinfo("u:pw@h") and has_userinfo("u@h")
    assert not has_userinfo("http://host/a@b") and not has_userinfo("db.example.com")
    assert redact("postgres://u:pw@h/db and u:pw@h") == "postgres://***@h/db and ***@h"
