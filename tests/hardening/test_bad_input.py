"""Bad input through the CLI, as a hostile or unlucky user gives it: every case must end
in one line on stderr that names the problem, a non-zero exit code, no traceback, and
an unchanged `.zen/config.yaml`. The README's reliability section quotes this table's size.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import new_project, run_cli

PIPELINE = textwrap.dedent(
    """
    import sys

    from zenml_kf import BaseStepConfig, pipeline, step


    class Cfg(BaseStepConfig):
        factor: int = 2


    @step
    def make() -> int:
        return 21


    @step
    def scale(x: int, config: Cfg) -> int:
        return x * config.factor


    @step
    def quits() -> int:
        sys.exit(3)


    @pipeline
    def demo(make, scale):
        scale(make())


    @pipeline
    def quitting(quits):
        quits()


    @pipeline
    def clash(load_data, Load_Data):
        load_data()
        Load_Data()


    @step(settings={"retries": {"max_retries": 2, "backoff_factor": 1.5}})
    def flaky() -> int:
        return 1


    @pipeline
    def retrying(flaky):
        flaky()


    @step(settings={"env": {"DB_PASSWORD": "hunter2"}})
    def leaky() -> int:
        return 1


    @pipeline
    def leaking(leaky):
        leaky()


    p = demo(make=make(), scale=scale())
    not_a_pipeline = 3
    quitting_p = quitting(quits=quits())
    clash_p = clash(load_data=make(), Load_Data=make())
    retrying_p = retrying(flaky=flaky())
    """
)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    fragment: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: tuple[tuple[str, ...], ...] = ()
    code: int = 1
    user_traceback: bool = False  # a failing step shows its own code's traceback, once


CASES = {
    "unknown stack": Case(("run", "pipe.py:p", "--stack", "nope"), "unknown stack 'nope'"),
    "empty stack name": Case(("run", "pipe.py:p", "--stack", ""), "unknown stack ''"),
    "set an empty stack": Case(("stack", "set", ""), "unknown stack ''"),
    "stack named ../../etc": Case(
        ("stack", "register", "../../etc", "-o", "default", "-a", "default", "-m", "default"), "stack name"
    ),
    "component with a space": Case(
        ("orchestrator", "register", "a b", "--flavor", "local"), "orchestrator name"
    ),
    "component named with YAML": Case(
        ("metadata-store", "register", "k: v", "--flavor", "sqlite"), "metadata store name"
    ),
    "unknown flavor": Case(
        ("orchestrator", "register", "x", "--flavor", "spark"), "unknown orchestrator flavor 'spark'"
    ),
    "invalid setting value": Case(
        ("orchestrator", "register", "x", "--flavor", "local", "--max-workers", "0"), "max_workers"
    ),
    "unknown setting": Case(("orchestrator", "register", "x", "--flavor", "local", "--speed", "9"), "speed"),
    "pipeline name escaping the store": Case(
        ("run", "esc.py:p"),
        "pipeline name '../../../../../escaped'",
        files={
            "esc.py": "from pipe import make, pipeline\n\n"
            "@pipeline(name='../../../../../escaped')\ndef escaping(make):\n    make()\n\n"
            "p = escaping(make=make())\n"
        },
    ),
    "step exits 3": Case(("run", "pipe.py:quitting_p"), "SystemExit: exit code 3", user_traceback=True),
    "module exits while imported": Case(
        ("run", "exits.py:p"), "SystemExit: 5", files={"exits.py": "import sys\nsys.exit(5)\n"}
    ),
    "module raises while imported": Case(
        ("run", "boom.py:p"),
        "importing 'boom.py:p' failed with ValueError",
        files={"boom.py": "raise ValueError('x')\n"},
    ),
    "missing module": Case(("run", "nothere.py:p"), "nothere.py"),
    "not a pipeline": Case(("run", "pipe.py:not_a_pipeline"), "not a pipeline instance"),
    "binary config file": Case(
        ("run", "pipe.py:p", "--config", "c.yaml"), "is not text", files={"c.yaml": b"\xff\xfe\x00"}
    ),
    "malformed YAML config": Case(
        ("run", "pipe.py:p", "--config", "c.yaml"), "not valid YAML", files={"c.yaml": "steps: [\n"}
    ),
    "unknown step in config": Case(
        ("run", "pipe.py:p", "--config", "c.yaml"),
        "names step 'nope'",
        files={"c.yaml": "steps: {nope: {}}\n"},
    ),
    "unknown parameter in config": Case(
        ("run", "pipe.py:p", "--config", "c.yaml"),
        "parameter 'speed'",
        files={"c.yaml": "steps: {scale: {parameters: {speed: 1}}}\n"},
    ),
    "boolean for an int parameter": Case(
        ("run", "pipe.py:p", "--config", "c.yaml"),
        "is a boolean, not a number",
        files={"c.yaml": "steps: {scale: {parameters: {factor: true}}}\n"},
    ),
    "invalid cluster setting": Case(
        ("compile", "pipe.py:p", "--config", "c.yaml"),
        "memory_limit",
        files={"c.yaml": "settings: {memory_limit: lots}\n"},
    ),
    "boolean GPU count": Case(
        ("compile", "pipe.py:p", "--config", "c.yaml"),
        "gpu_count: Input should be a valid integer",
        files={"c.yaml": "settings: {gpu_type: nvidia.com/gpu, gpu_count: true}\n"},
    ),
    "credential in step env": Case(
        ("compile", "pipe.py:leaking_p"),
        "looks like a credential",
        files={"pipe.py": PIPELINE + "leaking_p = leaking(leaky=leaky())\n"},
    ),
    "fractional backoff factor": Case(
        ("compile", "pipe.py:retrying_p"), "backoff_factor 1.5 is not a whole number"
    ),
    "two steps, one KFP task": Case(("compile", "pipe.py:clash_p"), "both become KFP task 'load-data'"),
    "compile to .json": Case(("compile", "pipe.py:p", "-o", "out.json"), "must end in .yaml or .yml"),
    "compile onto a folder": Case(
        ("compile", "pipe.py:p", "-o", "adir.yaml"), "is a folder", files={"adir.yaml/x": "x"}
    ),
    "compile under a file": Case(("compile", "pipe.py:p", "-o", "pipe.py/out.yaml"), "cannot write"),
    "image and build together": Case(
        ("compile", "pipe.py:p", "--image", "a/b:1", "--build"), "exclude each other"
    ),
    "malformed image reference": Case(
        ("compile", "pipe.py:p", "--image", "UPPER/Case::x"), "image reference"
    ),
    "kubeflow stack on a local folder": Case(
        ("stack", "register", "kf", "-o", "kubeflow", "-a", "default", "-m", "default"),
        "artifact store is a folder on this machine",
    ),
    "schedule on a local stack": Case(
        ("run", "pipe.py:p", "--schedule", "0 3 * * *"), "schedules need a kubeflow stack"
    ),
    "wait on a local stack": Case(("run", "pipe.py:p", "--wait"), "apply to Kubeflow"),
    "bad cron": Case(("run", "pipe.py:p", "--schedule", "61 * * * *"), "'61' is not a valid minutes"),
    "export a local stack": Case(("stack", "export-values"), "local orchestrator"),
    "import a file with no stack": Case(
        ("stack", "import-values", "x.yaml"), "holds no stack", files={"x.yaml": "kind: Deployment\n"}
    ),
    "newer registry version": Case(("stack", "list"), "newer zenml-kf", setup=(("__version__", "99"),)),
    "binary registry": Case(("stack", "list"), "is not text", setup=(("__binary__",),)),
    "describe a run before any ran": Case(("runs", "describe", "nope"), "no runs to read on stack 'default'"),
    "describe an unknown run": Case(("runs", "describe", "nope"), "no run 'nope'", setup=(("__run__",),)),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path, {"pipe.py": PIPELINE})


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_with_a_non_zero_exit(project: Path, name: str) -> None:
    case = CASES[name]
    for rel, content in case.files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    registry = project / ".zen" / "config.yaml"
    for step in case.setup:
        if step[0] == "__version__":
            registry.write_text(registry.read_text().replace("version: 1", f"version: {step[1]}"))
        elif step[0] == "__binary__":
            registry.write_bytes(b"\xff\xfe\x00garbage")
        elif step[0] == "__run__":
            assert run_cli("run", "pipe.py:p", cwd=project).code == 0
    before = registry.read_bytes()
    result = run_cli(*case.args, cwd=project)
    assert result.code == case.code, result
    if case.user_traceback:
        assert result.err.count("Traceback") == 1 and 'pipe.py", line' in result.err, result
    else:
        assert "Traceback" not in result.out + result.err, result
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result
    assert case.fragment in errors[0], result
    assert registry.read_bytes() == before  # nothing half-written
