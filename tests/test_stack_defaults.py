"""`zenml stack register` takes the `default` component for any of the three not given."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import assert_clean_error, new_project, run_cli

PIPELINE = """\
from zenml_kf import pipeline, step

@step
def one() -> int:
    return 1

@pipeline
def demo(one):
    pass

p = demo(one=one())
"""


def _stacks(root: Path) -> dict[str, dict[str, str]]:
    config = yaml.safe_load((root / ".zen" / "config.yaml").read_text())
    stacks: dict[str, dict[str, str]] = config["stacks"]
    return stacks


def test_register_with_only_an_artifact_store_runs_on_it(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"pipe.py": PIPELINE})
    store = tmp_path / "alt-artifacts"
    registered = run_cli(
        "artifact-store", "register", "alt", "--flavor", "local", "--path", str(store), cwd=root
    )
    assert registered.code == 0, registered

    result = run_cli("stack", "register", "alt", "-a", "alt", "--set", cwd=root)

    assert result.code == 0, result
    assert "Took the orchestrator 'default' (none given)." in result.out
    assert "Took the metadata store 'default' (none given)." in result.out
    assert _stacks(root)["alt"] == {
        "orchestrator": "default",
        "artifact_store": "alt",
        "metadata_store": "default",
    }
    ran = run_cli("run", "pipe.py:p", cwd=root)
    assert ran.code == 0, ran
    assert (store / "demo").is_dir()


def test_without_a_default_component_the_error_names_the_option(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    assert run_cli("orchestrator", "register", "serial", "--flavor", "local", cwd=root).code == 0
    assert run_cli("stack", "register", "serial", "-o", "serial", "--set", cwd=root).code == 0
    assert run_cli("stack", "delete", "default", cwd=root).code == 0
    assert run_cli("orchestrator", "delete", "default", cwd=root).code == 0
    before = (root / ".zen" / "config.yaml").read_text()

    assert_clean_error(
        run_cli("stack", "register", "other", "-a", "default", cwd=root),
        "no orchestrator given and none named 'default' is registered",
        "--orchestrator",
    )
    assert (root / ".zen" / "config.yaml").read_text() == before
