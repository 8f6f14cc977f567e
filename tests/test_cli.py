"""The `zenml` CLI as a user runs it: a subprocess in a git repository."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import assert_clean_error, git_init, run_cli

PIPELINE = textwrap.dedent(
    """
    from zenml_kf import BaseStepConfig, pipeline, step


    class Cfg(BaseStepConfig):
        factor: int = 2


    @step
    def make() -> int:
        return 21


    @step
    def scale(x: int, config: Cfg) -> int:
        return x * config.factor


    @pipeline
    def demo(make, scale):
        scale(make())


    p = demo(make=make(), scale=scale())
    not_a_pipeline = 3
    """
)

FAILING = textwrap.dedent(
    """
    from zenml_kf import pipeline, step


    def helper(n):
        raise RuntimeError(f"boom {n}")


    @step
    def make() -> int:
        return 1


    @step
    def breaks(x: int) -> int:
        return helper(x)


    @pipeline
    def failing(make, breaks):
        breaks(make())


    p = failing(make=make(), breaks=breaks())
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git_init(root)
    assert run_cli("init", cwd=root).code == 0
    (root / "pipe.py").write_text(PIPELINE)
    return root


def config_text(root: Path) -> str:
    return (root / ".zen" / "config.yaml").read_text()


def test_init_creates_a_readable_registry_and_ignores_local_stores(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git_init(root)
    result = run_cli("init", cwd=root)
    assert result.code == 0, result
    import yaml

    config = yaml.safe_load(config_text(root))
    assert config["active_stack"] == "default"
    assert config["stacks"]["default"] == {
        "orchestrator": "default",
        "artifact_store": "default",
        "metadata_store": "default",
    }
    assert (root / ".zen" / ".gitignore").read_text().split() == ["local_stores/", ".config.lock"]
    (root / ".zen" / "local_stores" / "metadata.db").write_text("x")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert "!! .zen/local_stores/metadata.db" in status
    assert "?? .zen/config.yaml" in status  # the registry itself is meant to be committed
    assert_clean_error(run_cli("init", cwd=root), "already a zenml repository")


def test_init_refuses_outside_git_and_below_the_git_root(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert_clean_error(run_cli("init", cwd=plain), "not in a git repository", "git init")
    assert not (plain / ".zen").exists()
    root = tmp_path / "g"
    (root / "sub").mkdir(parents=True)
    git_init(root)
    assert_clean_error(run_cli("init", cwd=root / "sub"), "run 'zenml init' at its root")
    assert not (root / "sub" / ".zen").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["stack", "list"],
        ["runs", "list"],
        ["run", "pipe.py:p"],
        ["artifact-store", "list"],
        ["stack", "describe"],
    ],
)
def test_commands_outside_a_repository_say_so_and_how_to_fix_it(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "pipe.py").write_text(PIPELINE)
    assert_clean_error(run_cli(*args, cwd=tmp_path), "not inside a zenml repository", "zenml init")


def test_malformed_registry_yaml(project: Path) -> None:
    path = project / ".zen" / "config.yaml"
    path.write_text("active_stack: [unclosed\n")
    assert_clean_error(run_cli("stack", "list", cwd=project), "is not valid YAML", "config.yaml")
    path.write_text("active_stack: default\nstacks: {default: {orchestrator: x}}\n")
    assert_clean_error(run_cli("run", "pipe.py:p", cwd=project), "is malformed", "stacks.default")
    path.write_text(
        "active_stack: default\nstacks: {default: {orchestrator: x, artifact_store: y, metadata_store: z}}\n"
    )
    assert_clean_error(run_cli("stack", "describe", cwd=project), "names unknown orchestrator 'x'")


def test_run_describe_and_list_runs(project: Path) -> None:
    first = run_cli("run", "pipe.py:p", cwd=project)
    assert first.code == 0, first
    assert "make started" in first.err and "scale completed" in first.err
    assert "completed" in first.out
    second = run_cli("run", "pipe.py:p", cwd=project)
    assert second.code == 0 and "scale cached" in second.err
    listing = run_cli("runs", "list", "--pipeline", "demo", cwd=project)
    assert listing.code == 0 and listing.out.count("demo-") == 2
    assert listing.out.splitlines()[-1].split()[-2:] == ["2", "2"]  # steps, cached
    run_id = next(w for w in listing.out.split() if w.startswith("demo-"))
    described = run_cli("runs", "describe", run_id, cwd=project)
    assert described.code == 0, described
    for fragment in ("scale", "factor=2", "scale/output", "int", "completed"):
        assert fragment in described.out
    assert_clean_error(run_cli("runs", "describe", "nope", cwd=project), "no run 'nope'")
    assert_clean_error(
        run_cli("runs", "list", "--pipeline", "other", cwd=project), "no pipeline named 'other'"
    )


def test_run_with_a_config_file(project: Path) -> None:
    (project / "cfg.yaml").write_text("steps:\n  scale:\n    parameters:\n      factor: 5\n")
    result = run_cli("run", "pipe.py:p", "--config", "cfg.yaml", cwd=project)
    assert result.code == 0, result
    check = (
        "from zenml_kf import Repository; "
        "print(Repository().get_pipeline('demo').runs[-1].get_step('scale').output.read())"
    )
    out = subprocess.run([sys.executable, "-c", check], cwd=project, capture_output=True, text=True)
    assert out.stdout.strip() == "105", out.stderr


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("steps:\n  nope:\n    parameters: {a: 1}\n", ["names step 'nope'", "its steps are: make, scale"]),
        ("steps:\n  scale:\n    parameters: {speed: 1}\n", ["parameter 'speed' of step 'scale'", "factor"]),
        ("steps:\n  make:\n    parameters: {factor: 1}\n", ["parameter 'factor' of step 'make'"]),
        ("steps:\n  scale:\n    parameters: {factor: fast}\n", ["parameters of step 'scale' are invalid"]),
        ("steps: [\n", ["is not valid YAML"]),
        ("stepz: {}\n", ["is malformed", "stepz"]),
    ],
)
def test_bad_config_files(project: Path, content: str, fragments: list[str]) -> None:
    (project / "cfg.yaml").write_text(content)
    assert_clean_error(run_cli("run", "pipe.py:p", "--config", "cfg.yaml", cwd=project), *fragments)
    assert not (project / ".zen" / "local_stores" / "artifacts").exists()


@pytest.mark.parametrize(
    ("target", "fragments"),
    [
        ("missing.py:p", ["file 'missing.py' does not exist"]),
        ("pipe.py:nope", ["defines no attribute 'nope'"]),
        ("pipe.py", ["names no attribute"]),
        ("pipe.py:not_a_pipeline", ["is an int, not a pipeline instance"]),
        ("pipe.py:demo", ["is the pipeline function 'demo', not a pipeline instance"]),
        ("no_such_module:p", ["cannot import module 'no_such_module'"]),
    ],
)
def test_run_on_a_missing_file_or_attribute(project: Path, target: str, fragments: list[str]) -> None:
    assert_clean_error(run_cli("run", target, cwd=project), *fragments)


def test_step_input_without_annotation_fails_at_import(project: Path) -> None:
    (project / "bad.py").write_text("from zenml_kf import step\n\n@step\ndef s(x) -> int:\n    return 1\n")
    assert_clean_error(
        run_cli("run", "bad.py:p", cwd=project), "input 'x' of step 's' has no type annotation"
    )


def test_failing_step_shows_its_traceback_once_and_exits_non_zero(project: Path) -> None:
    (project / "fail.py").write_text(FAILING)
    result = run_cli("run", "fail.py:p", cwd=project)
    assert result.code == 1
    assert result.err.count("Traceback") == 1, result
    assert 'raise RuntimeError(f"boom {n}")' in result.err
    assert "zenml_kf/orchestrators" not in result.err and "zenml_kf/steps/runner" not in result.err
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("Error: step 'breaks' raised RuntimeError: boom 1")
    assert "recorded as failed" in last
    listing = run_cli("runs", "list", cwd=project)
    assert "failed" in listing.out


def test_component_and_stack_lifecycle(project: Path, tmp_path: Path) -> None:
    store = tmp_path / "elsewhere"
    ok = run_cli(
        "artifact-store", "register", "shared", "--flavor", "local", "--path", str(store), cwd=project
    )
    assert ok.code == 0, ok
    assert (
        run_cli(
            "orchestrator", "register", "serial", "--flavor", "local", "--max-workers=1", cwd=project
        ).code
        == 0
    )
    assert (
        run_cli(
            "metadata-store", "register", "md", "--flavor", "sqlite", "--uri", "meta/md.db", cwd=project
        ).code
        == 0
    )
    listed = run_cli("artifact-store", "list", cwd=project)
    assert "shared" in listed.out and str(store) in listed.out
    assert "max_workers" in run_cli("orchestrator", "describe", "serial", cwd=project).out
    assert "sqlite" in run_cli("metadata-store", "list", "--flavors", cwd=project).out
    reg = run_cli("stack", "register", "alt", "-o", "serial", "-a", "shared", "-m", "md", cwd=project)
    assert reg.code == 0, reg
    assert run_cli("stack", "set", "alt", cwd=project).code == 0
    stacks = run_cli("stack", "list", cwd=project).out
    assert any(line.split()[:2] == ["*", "alt"] for line in stacks.splitlines())
    assert "shared" in run_cli("stack", "describe", cwd=project).out
    assert run_cli("run", "pipe.py:p", cwd=project).code == 0
    assert (store / "demo").is_dir()
    assert (project / "meta" / "md.db").is_file()
    # Runs are per stack: the default stack's store has none of them.
    assert "No runs yet" in run_cli("runs", "list", "--stack", "default", cwd=project).out
    before = config_text(project)
    assert_clean_error(run_cli("artifact-store", "delete", "shared", cwd=project), "used by stack(s) alt")
    assert_clean_error(run_cli("stack", "delete", "alt", cwd=project), "is active")
    assert config_text(project) == before
    assert run_cli("stack", "set", "default", cwd=project).code == 0
    assert run_cli("stack", "delete", "alt", cwd=project).code == 0
    assert run_cli("artifact-store", "delete", "shared", cwd=project).code == 0
    assert "shared" not in config_text(project)


def test_unknown_stacks_components_and_flavors(project: Path) -> None:
    before = config_text(project)
    assert_clean_error(
        run_cli("stack", "set", "nope", cwd=project), "unknown stack 'nope'", "registered stacks: default"
    )
    assert_clean_error(run_cli("stack", "describe", "nope", cwd=project), "unknown stack 'nope'")
    assert_clean_error(run_cli("run", "pipe.py:p", "--stack", "nope", cwd=project), "unknown stack 'nope'")
    assert_clean_error(
        run_cli("stack", "register", "s", "-o", "nope", "-a", "default", "-m", "default", cwd=project),
        "unknown orchestrator 'nope'",
    )
    assert_clean_error(
        run_cli("orchestrator", "describe", "nope", cwd=project), "unknown orchestrator 'nope'"
    )
    assert_clean_error(
        run_cli("artifact-store", "register", "x", "--flavor", "nfs", cwd=project),
        "unknown artifact store flavor 'nfs'",
        "available flavors:",
    )
    assert_clean_error(
        run_cli("orchestrator", "register", "x", "--flavor", "local", "--max-workers", "none", cwd=project),
        "invalid settings for orchestrator 'x'",
        "max_workers",
    )
    assert_clean_error(
        run_cli("orchestrator", "register", "x", "--flavor", "local", "--colour", "red", cwd=project),
        "invalid settings",
        "colour",
    )
    assert_clean_error(
        run_cli("run", "pipe.py:p", cwd=project, env={"ZENML_KF_STACK": "ghost"}),
        "unknown stack 'ghost' (set by ZENML_KF_STACK)",
    )
    assert config_text(project) == before


def test_environment_overrides_component_settings(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "env-artifacts"
    env = {"ZENML_KF_ARTIFACT_STORE_PATH": str(target)}
    described = run_cli("artifact-store", "describe", "default", cwd=project, env=env)
    assert str(target) in described.out
    assert run_cli("run", "pipe.py:p", cwd=project, env=env).code == 0
    assert (target / "demo").is_dir()
    assert "ZENML" not in config_text(project) and str(target) not in config_text(project)


def test_active_stack_from_environment_and_python_api_stack_argument(project: Path) -> None:
    assert (
        run_cli("artifact-store", "register", "a2", "--flavor", "local", "--path", "a2", cwd=project).code
        == 0
    )
    assert (
        run_cli("stack", "register", "s2", "-o", "default", "-a", "a2", "-m", "default", cwd=project).code
        == 0
    )
    assert run_cli("run", "pipe.py:p", cwd=project, env={"ZENML_KF_STACK": "s2"}).code == 0
    assert (project / "a2" / "demo").is_dir()
    script = "import pipe\nrun = pipe.p.run(stack='default')\nprint(run.stack['name'])\npipe.p.run(stack='missing')\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True)
    assert out.stdout.strip() == "default"
    assert "StackError: unknown stack 'missing'" in out.stderr


def test_version_and_help(project: Path) -> None:
    version = run_cli("version", cwd=project)
    assert version.code == 0 and "zenml-kf 0.1.0" in version.out and "kfp 2.13.0" in version.out
    helped = run_cli("--help", cwd=project)
    assert helped.code == 0
    for command in ("init", "run", "runs", "stack", "orchestrator", "artifact-store", "metadata-store"):
        assert command in helped.out
    assert "--flavor" in run_cli("artifact-store", "register", "--help", cwd=project).out


HEAVY = ("kfp", "ml_metadata", "boto3", "google.cloud", "docker", "pandas")


@pytest.mark.parametrize(
    "code",
    [
        "import zenml_kf",
        "import sys; sys.argv=['zenml','--help']\nfrom zenml_kf.cli.main import main\ntry:\n main()\nexcept SystemExit: pass",
    ],
)
def test_help_and_import_stay_light(code: str) -> None:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    loaded = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []


BAD_PIPELINES = {
    "not_an_instance": (
        "p = demo(make=make, scale=scale())",
        ["argument 'make' of pipeline 'demo' is the step 'make' itself", "make=make()"],
    ),
    "same_instance": (
        "m = make()\np = demo(make=m, scale=m)",
        ["same step instance is passed as 'make' and 'scale'"],
    ),
    "unknown_input": (
        "@pipeline\ndef other(make, scale):\n    scale(y=make())\n\np = other(make=make(), scale=scale())",
        ["step 'scale' has no input 'y'; its inputs are: x"],
    ),
    "missing_input": (
        "@pipeline\ndef other(make, scale):\n    make()\n    scale()\n\np = other(make=make(), scale=scale())",
        ["input 'x' of step 'scale' is missing"],
    ),
    "wrong_output_type": (
        "@step\ndef liar() -> int:\n    return 'text'\n\n@pipeline\ndef other(liar):\n    liar()\n\np = other(liar=liar())",
        ["output 'output' of step 'liar' is a str but is annotated int", "recorded as failed"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PIPELINES))
def test_bad_pipelines_give_one_line_errors_through_the_cli(project: Path, case: str) -> None:
    tail, fragments = BAD_PIPELINES[case]
    source = PIPELINE.replace("p = demo(make=make(), scale=scale())", tail)
    (project / "bad.py").write_text(source)
    assert_clean_error(run_cli("run", "bad.py:p", cwd=project), *fragments)


def test_interrupted_run_is_recorded_as_failed_with_the_running_step_canceled(project: Path) -> None:
    import signal
    import time

    (project / "slow.py").write_text(
        "import time\nfrom zenml_kf import pipeline, step\n\n"
        "@step\ndef slow() -> int:\n    time.sleep(60)\n    return 1\n\n"
        "@pipeline\ndef sleepy(slow):\n    slow()\n\np = sleepy(slow=slow())\n"
    )
    from tests.conftest import ZENML, _clean_env

    proc = subprocess.Popen(
        [ZENML, "run", "slow.py:p"],
        cwd=project,
        env=_clean_env(),
        stderr=subprocess.PIPE,
        text=True,
        # A terminal delivers Ctrl-C to a process whose SIGINT is not ignored; test runners
        # may start children with it ignored, so restore the default as a shell would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "slow started" in line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    check = (
        "from zenml_kf import Repository\nrun = Repository().get_pipeline('sleepy').runs[-1]\n"
        "print(run.status.value, run.get_step('slow').status.value)"
    )
    out = subprocess.run([sys.executable, "-c", check], cwd=project, capture_output=True, text=True)
    assert out.stdout.split() == ["failed", "canceled"], out.stderr


def test_a_sqlite_store_that_cannot_be_opened_names_its_path(project: Path) -> None:
    (project / "not_a_db").write_text("plain text\n")
    for uri in ("not_a_db", "missing_dir_parent/../not_a_db/x.db"):
        result = run_cli("runs", "list", cwd=project, env={"ZENML_KF_METADATA_STORE_URI": uri})
        assert_clean_error(result, "cannot open the metadata store at", "not_a_db")


def test_a_module_that_fails_to_import_is_one_line_naming_the_line(project: Path) -> None:
    (project / "boom.py").write_text("from zenml_kf import step\n\nx = 1 / 0\n")
    assert_clean_error(
        run_cli("run", "boom.py:p", cwd=project),
        "importing 'boom.py:p' failed with ZeroDivisionError: division by zero at boom.py:3",
    )
    (project / "missing_dep.py").write_text("import not_a_real_package\n")
    assert_clean_error(
        run_cli("run", "missing_dep.py:p", cwd=project), "ModuleNotFoundError", "not_a_real_package"
    )


def test_parallel_registrations_are_all_kept(tmp_path) -> None:
    """Every change of .zen/config.yaml is made under a lock on a fresh read of it."""
    import yaml

    from tests.conftest import ZENML, _clean_env

    root = tmp_path / "p"
    root.mkdir()
    git_init(root)
    assert run_cli("init", cwd=root).code == 0
    procs = [
        subprocess.Popen(
            [ZENML, "orchestrator", "register", f"serial{i}", "--flavor", "local", "--max-workers", "1"],
            cwd=root,
            env=_clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    config = yaml.safe_load((root / ".zen" / "config.yaml").read_text())
    assert {f"serial{i}" for i in range(8)} <= set(config["orchestrators"])


@pytest.mark.parametrize(
    ("decorator", "what"),
    [
        ('@pipeline(name="../../../../../escaped")', "pipeline name '../../../../../escaped'"),
        ('@pipeline(name="a/b")', "pipeline name 'a/b'"),
        ('@pipeline(name="x" * 300)', "pipeline name 'xxxx"),
        ("@pipeline(name='')", "pipeline name ''"),
    ],
)
def test_names_that_would_reach_a_path_are_refused_where_they_enter(
    project: Path, decorator: str, what: str
) -> None:
    (project / "bad.py").write_text(
        "from zenml_kf import pipeline, step\n\n"
        "@step\ndef one() -> int:\n    return 1\n\n"
        f"{decorator}\ndef p(one):\n    one()\n\n"
        "bad = p(one=one())\n"
    )
    assert_clean_error(run_cli("run", "bad.py:bad", cwd=project), what, "is not a valid name")
    assert not list((project / ".zen" / "local_stores").glob("artifacts/*"))
    assert not Path("/escaped").exists()


def test_step_names_given_to_the_decorator_follow_the_rule(project: Path) -> None:
    (project / "bad.py").write_text(
        "from zenml_kf import pipeline, step\n\n"
        "@step(name='..\\\\up')\ndef one() -> int:\n    return 1\n\n"
        "@pipeline\ndef p(one):\n    one()\n\n"
        "bad = p(one=one())\n"
    )
    assert_clean_error(
        run_cli("run", "bad.py:bad", cwd=project), "step name '..\\\\up'", "is not a valid name"
    )


@pytest.mark.parametrize("name", ["", "a b", "../../etc", "x/y", "back\\slash", "key: value", ".hidden"])
def test_stack_and_component_names_follow_the_rule(project: Path, name: str) -> None:
    before = (project / ".zen" / "config.yaml").read_text()
    assert_clean_error(
        run_cli("orchestrator", "register", name, "--flavor", "local", cwd=project), "orchestrator name"
    )
    assert_clean_error(
        run_cli("stack", "register", name, "-o", "default", "-a", "default", "-m", "default", cwd=project),
        "stack name",
    )
    assert (project / ".zen" / "config.yaml").read_text() == before
    assert_clean_error(run_cli("stack", "set", name, cwd=project), "unknown stack")
    assert_clean_error(run_cli("run", "pipe.py:p", "--stack", name, cwd=project), "unknown stack")


@pytest.mark.parametrize("code", [0, 3])
def test_a_step_calling_sys_exit_fails_the_run_in_one_line(project: Path, code: int) -> None:
    (project / "exits.py").write_text(
        "import sys\n\nfrom zenml_kf import pipeline, step\n\n"
        f"@step\ndef quits() -> int:\n    sys.exit({code})\n\n"
        "@pipeline\ndef p(quits):\n    quits()\n\n"
        "exits = p(quits=quits())\n"
    )
    result = run_cli("run", "exits.py:exits", cwd=project)
    assert result.code == 1, result
    last = result.err.strip().splitlines()[-1]  # after the step's traceback, shown once
    assert last.startswith("Error: step 'quits' raised SystemExit: exit code ") and last.endswith("failed")
    assert f"SystemExit: exit code {code}" in last
    from zenml_kf import Repository

    assert Repository(project).get_pipeline("p").runs[-1].status.value == "failed"


def test_a_module_that_exits_while_imported_is_one_line(project: Path) -> None:
    (project / "exits.py").write_text("import sys\n\nsys.exit(5)\n")
    result = run_cli("run", "exits.py:p", cwd=project)
    assert result.code == 1, result
    assert_clean_error(result, "importing 'exits.py:p' failed with SystemExit: 5")


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("out.json", "must end in .yaml or .yml"),
        ("folder.yaml", "is a folder"),
        ("pipe.py/p.yaml", "cannot write 'pipe.py/p.yaml'"),  # its folder is a file
    ],
)
def test_compile_output_that_cannot_be_written_is_one_line(project: Path, output: str, fragment: str) -> None:
    (project / "folder.yaml").mkdir()
    assert_clean_error(run_cli("compile", "pipe.py:p", "-o", output, cwd=project), fragment)


def test_unreadable_registry_and_config_files_are_one_line(project: Path) -> None:
    (project / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    assert_clean_error(run_cli("run", "pipe.py:p", "--config", "binary.yaml", cwd=project), "is not text")
    config = project / ".zen" / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("version: 1", "version: 99"))
    assert_clean_error(run_cli("stack", "list", cwd=project), "newer zenml-kf", "pip install --upgrade")
    config.write_bytes(b"\xff\xfe\x00garbage")
    assert_clean_error(run_cli("stack", "list", cwd=project), "is not text")
