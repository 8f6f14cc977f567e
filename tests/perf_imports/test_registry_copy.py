"""The stack registry is parsed once per change: later commands and runs read the JSON copy
kept beside the local stores, and never see a stale one.

Commands run as subprocesses; the registry is edited the ways users edit it (by hand,
by `git checkout`, through the CLI).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _clean_env, assert_clean_error, new_project, run_cli
from zenml_kf.yaml_cache import InvalidYAML, load_yaml

LOADS_YAML = (
    "import sys\n"
    "from zenml_kf import Repository\n"
    "stack = Repository().get_stack()\n"
    "print(stack.name, stack.orchestrator.config.max_workers, 'yaml' in sys.modules)\n"
)


def _stack_in_fresh_process(root: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", LOADS_YAML], cwd=root, env=_clean_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def _copy(root: Path) -> Path:
    return root / ".zen" / "local_stores" / "config.yaml.json"


def test_reading_the_registry_does_not_load_yaml_once_it_was_parsed(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    assert _copy(root).is_file()  # `zenml init` wrote it with the registry
    assert _stack_in_fresh_process(root) == ["default", "8", "False"]


def test_an_edit_by_hand_is_seen_at_once(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    assert run_cli("orchestrator", "register", "serial", "--flavor", "local", cwd=root).code == 0
    assert run_cli("stack", "register", "alt", "-o", "serial", cwd=root).code == 0
    assert _stack_in_fresh_process(root) == ["default", "8", "False"]
    config = root / ".zen" / "config.yaml"
    text = config.read_text()
    edited = text.replace("active_stack: default", "active_stack: alt").replace(
        "serial:\n    flavor: local\n    config: {}",
        "serial:\n    flavor: local\n    config: {max_workers: 3}",
    )
    assert edited.count("max_workers: 3") == 1 and "active_stack: alt" in edited
    config.write_text(edited)
    assert _stack_in_fresh_process(root) == ["alt", "3", "True"]  # parsed afresh...
    assert _stack_in_fresh_process(root) == ["alt", "3", "False"]  # ...and kept
    # Back to the old text (a `git checkout`): the copy follows the text, not the file's age.
    config.write_text(text)
    assert _stack_in_fresh_process(root)[:2] == ["default", "8"]


def test_a_damaged_or_missing_copy_is_parsed_again_and_rewritten(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    copy = _copy(root)
    for damage in ('{"yaml": "version', "[]", '{"yaml": 1}', ""):
        copy.write_text(damage)
        assert _stack_in_fresh_process(root) == ["default", "8", "True"]
        assert json.loads(copy.read_text())["data"]["active_stack"] == "default"
    copy.unlink()
    assert run_cli("stack", "list", cwd=root).code == 0
    assert copy.is_file()


def test_a_copy_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    _copy(root).unlink()
    _copy(root).mkdir()  # a folder where the copy goes: it can never be written
    assert _stack_in_fresh_process(root) == ["default", "8", "True"]
    assert run_cli("stack", "list", cwd=root).code == 0
    assert list(_copy(root).parent.glob(".config.yaml.json.*")) == []  # no temporary file left


def test_invalid_yaml_is_still_one_line_with_its_line(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    (root / ".zen" / "config.yaml").write_text("version: 1\nactive_stack: [unclosed\n")
    result = run_cli("stack", "list", cwd=root)
    assert_clean_error(result, "is not valid YAML at line 3", "config.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("when: 2024-01-02\n", {"when": datetime.date(2024, 1, 2)}),
        ("1: one\n", {1: "one"}),
    ],
)
def test_values_json_would_change_are_not_kept(tmp_path: Path, text: str, expected: object) -> None:
    copy = tmp_path / "copy.json"
    assert load_yaml(text, copy) == expected
    assert not copy.exists()
    assert load_yaml(text, copy) == expected


def test_kept_values_come_back_equal(tmp_path: Path) -> None:
    copy = tmp_path / "copy.json"
    text = "a: [1, 2.5, null, true, 'x']\nb: {c: {}}\n"
    first = load_yaml(text, copy)
    assert copy.exists()
    assert load_yaml(text, copy) == first == {"a": [1, 2.5, None, True, "x"], "b": {"c": {}}}


def test_invalid_yaml_raises_with_the_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidYAML) as info:
        load_yaml("a: 1\nb: [\n", tmp_path / "copy.json")
    assert info.value.line == 3
