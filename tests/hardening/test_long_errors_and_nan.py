"""A step's huge exception message and non-finite parameters: the CLI stays one line, the
run record stays small, and reading runs back keeps working."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import new_project, run_cli

SOURCE = """
from zenml_kf import BaseStepConfig, pipeline, step


class Rate(BaseStepConfig):
    rate: float = 0.5


@step
def shout() -> int:
    raise ValueError("x" * 100_000 + " END")


@step
def scaled(config: Rate) -> float:
    return config.rate * 2


@pipeline
def loud(shout):
    shout()


@pipeline
def rated(scaled):
    scaled()


loud_p = loud(shout=shout())
rated_p = rated(scaled=scaled())
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path, {"flows.py": SOURCE})


def test_a_huge_exception_message_is_cut_in_the_error_and_the_record(project: Path) -> None:
    from zenml_kf import Repository

    result = run_cli("run", "flows.py:loud_p", cwd=project)
    assert result.code == 1, result
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("Error: step 'shout' raised ValueError") and len(last) <= 1010
    assert "x" * 100_000 + " END" in result.err  # the step's log (its traceback) has it whole
    step = Repository(project).get_pipeline("loud").runs[-1].get_step("shout")
    assert step.error.endswith("(cut; the step's log has it whole)") and len(step.error) <= 2000


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_parameters_run_and_read_back(project: Path, value: str) -> None:
    from zenml_kf import Repository

    (project / "cfg.yaml").write_text(f"steps: {{scaled: {{parameters: {{rate: {value}}}}}}}\n")
    result = run_cli("run", "flows.py:rated_p", "--config", "cfg.yaml", cwd=project)
    assert result.code == 0, result
    listed = run_cli("runs", "list", cwd=project)
    assert listed.code == 0 and "rated" in listed.out, listed
    run = Repository(project).get_pipeline("rated").runs[-1]
    rate = run.get_step("scaled").parameters["rate"]
    expected = float(value.replace(".", "", 1))
    assert (math.isnan(rate) and math.isnan(expected)) or rate == expected
    output = run.get_step("scaled").output.read()
    assert (math.isnan(output) and math.isnan(expected)) or output == expected * 2


def test_a_deleted_metadata_file_is_reported_not_recreated(project: Path) -> None:
    from zenml_kf import Repository
    from zenml_kf.exceptions import NothingRecordedError

    assert run_cli("run", "flows.py:rated_p", cwd=project).code == 0
    db = project / ".zen" / "local_stores" / "metadata.db"
    db.unlink()
    listed = run_cli("runs", "list", cwd=project)
    said = " ".join(listed.out.split())  # the console wraps long lines
    assert listed.code == 0 and "does not exist" in said and "deleted" in said, listed
    assert not db.exists()  # reading did not create an empty store
    with pytest.raises(NothingRecordedError, match="does not exist"):
        Repository(project).get_pipeline("rated")
    assert not db.exists()
