"""What the public API import and a pipeline definition load, checked in fresh processes.

`from zenml_kf import step, pipeline, BaseStepConfig` is paid by every pipeline file, every
`zenml run` and every step container, so it stops at pydantic's base classes: no stack,
metadata or graph module, no validator built, no YAML, no numpy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import _clean_env, new_project

# Modules whose presence means work the import (or a definition) should not do.
NOT_AT_IMPORT = (
    "zenml_kf.metadata",
    "zenml_kf.stack",
    "zenml_kf.repository",
    "zenml_kf.orchestrators",
    "zenml_kf.pipelines.graph",
    "zenml_kf.pipelines.settings",
    "zenml_kf.pipelines.config_file",
    "zenml_kf.materializers",
    # loaded by pydantic only when it builds a model's validator
    "pydantic.plugin._loader",
    "pydantic_settings",
    "yaml",
    "numpy",
    "ml_metadata",
    "kfp",
)

DEFINITIONS = """
from zenml_kf import BaseStepConfig, pipeline, step


class Config(BaseStepConfig):
    count: int = 3


@step
def make(config: Config) -> int:
    return config.count


@step
def double(x: int) -> int:
    return 2 * x


@pipeline
def demo(make, double):
    double(make())
"""


def _loaded_after(code: str, cwd: Path | None = None) -> list[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=_clean_env(), capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return modules


def _unwanted(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_public_api_import_loads_no_stack_metadata_graph_or_validator() -> None:
    modules = _loaded_after("from zenml_kf import step, pipeline, BaseStepConfig")
    assert _unwanted(modules, NOT_AT_IMPORT) == []
    assert "pydantic" in modules  # BaseStepConfig is a pydantic model


def test_defining_steps_and_a_pipeline_builds_no_graph_or_validator() -> None:
    modules = _loaded_after(DEFINITIONS)
    assert _unwanted(modules, NOT_AT_IMPORT) == []


def test_config_defined_lazily_still_validates_at_first_use() -> None:
    code = (
        DEFINITIONS
        + """
try:
    Config(count="many")
except Exception as exc:
    print(type(exc).__name__, str(exc).splitlines()[1])
try:
    Config(count=True)
except Exception as exc:
    print(type(exc).__name__, "boolean" in str(exc))
try:
    Config(cuont=1)
except Exception as exc:
    print(type(exc).__name__, str(exc).splitlines()[1])
print(Config(count=4).count, list(Config.model_fields))
"""
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [
        "ValidationError count",
        "ValidationError True",
        "ValidationError cuont",
        "4 ['count']",
    ]


def test_pydantic_settings_loads_only_when_a_component_variable_is_set(tmp_path: Path) -> None:
    """Component settings come from ZENML_KF_* variables (any case) during a run, read by
    pydantic-settings; a run without such a variable does not import it."""
    root = new_project(tmp_path, {"pipe.py": DEFINITIONS + "\np = demo(make=make(), double=double())\n"})
    code = (
        "import sys, json, pipe\n"
        "run = pipe.p.run()\n"
        "print(json.dumps([run.get_step('double').output.read(), 'pydantic_settings' in sys.modules]))\n"
    )

    def run(env: dict[str, str]) -> list[object]:
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        result: list[object] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    assert run(_clean_env()) == [6, False]
    assert not (tmp_path / "from-env").exists()
    env = _clean_env()
    env["zenml_kf_artifact_store_path"] = str(tmp_path / "from-env")
    assert run(env) == [6, True]
    assert (tmp_path / "from-env" / "demo").is_dir()
