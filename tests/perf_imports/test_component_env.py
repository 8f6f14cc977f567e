"""Component settings from `ZENML_KF_<TYPE>_<SETTING>` variables, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import new_project, run_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = new_project(tmp_path)
    registered = run_cli(
        "orchestrator", "register", "kf", "--flavor", "kubeflow", "--host", "http://127.0.0.1:9", cwd=root
    )
    assert registered.code == 0, registered
    return root


def _setting(out: str, name: str) -> str:
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return value.strip()
    raise AssertionError(f"no line for {name} in:\n{out}")


def test_list_and_dict_settings_are_read_as_json_and_names_in_any_case(project: Path) -> None:
    env = {
        "ZENML_KF_ORCHESTRATOR_REQUIREMENTS": '["scikit-learn==1.5", "pandas"]',
        "zenml_kf_orchestrator_settings": '{"cpu_limit": "2"}',
        "Zenml_Kf_Orchestrator_Wait": "true",
    }
    described = run_cli("orchestrator", "describe", "kf", cwd=project, env=env)
    assert described.code == 0, described
    assert _setting(described.out, "requirements") == "['scikit-learn==1.5', 'pandas']"
    assert _setting(described.out, "settings") == "{'cpu_limit': '2'}"
    assert _setting(described.out, "wait") == "True"
    plain = run_cli("orchestrator", "describe", "kf", cwd=project)
    assert _setting(plain.out, "wait") == "False"  # nothing was written to the registry


def test_a_list_setting_may_be_comma_separated_text(project: Path) -> None:
    env = {"ZENML_KF_ORCHESTRATOR_REQUIREMENTS": "scikit-learn==1.5, pandas"}
    described = run_cli("orchestrator", "describe", "kf", cwd=project, env=env)
    assert described.code == 0, described
    assert _setting(described.out, "requirements") == "['scikit-learn==1.5', 'pandas']"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ZENML_KF_ORCHESTRATOR_SETTINGS", '{"cpu_limit": "lots"}', "'lots' is not a CPU quantity"),
        ("ZENML_KF_ORCHESTRATOR_SETTINGS", "{not json", "settings"),
        ("ZENML_KF_ORCHESTRATOR_POLL_SECONDS", "soon", "poll_seconds"),
    ],
)
def test_a_bad_value_from_the_environment_is_a_one_line_error(
    project: Path, name: str, value: str, expected: str
) -> None:
    result = run_cli("orchestrator", "describe", "kf", cwd=project, env={name: value})
    assert result.code == 1, result
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "invalid settings for orchestrator 'kf'" in lines[0] and expected in lines[0]
