"""What `zenml run` and `zenml runs describe` print, at 80 columns, piped and in a terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_output.terminal import (
    ANSI,
    after_step_lines,
    in_pty,
    piped,
    too_wide,
    visible_lines,
)
from tests.conftest import new_project

PIPELINE_NAME = "customer_churn_feature_pipeline"  # run ids of 54 characters
STEPS = [
    "load_customer_records",
    "deduplicate_customer_rows",
    "normalize_feature_columns",
    "compute_rolling_statistics",
    "encode_categorical_values",
    "impute_missing_measurements",
    "scale_numeric_features",
    "select_informative_features",
    "split_train_and_holdout",
    "summarize_feature_quality",
]

TEN_STEPS = textwrap.dedent(
    f'''
    from zenml_kf import BaseStepConfig, pipeline, step


    class Shift(BaseStepConfig):
        amount: int = 1
        label: str = "a parameter value that is long enough to need wrapping in a table"


    @step
    def first() -> list[int]:
        return [1, 2, 3]


    @step
    def middle(values: list[int], config: Shift) -> list[int]:
        return [v + config.amount for v in values]


    @step
    def last(values: list[int]) -> dict[str, float]:
        return {{"mean": sum(values) / len(values)}}


    @pipeline(name="{PIPELINE_NAME}")
    def churn({", ".join(STEPS)}):
        values = {STEPS[0]}()
        for middle_step in ({", ".join(STEPS[1:-1])}):
            values = middle_step(values=values)
        {STEPS[-1]}(values=values)


    p = churn(
        {STEPS[0]}=first(),
        {", ".join(f"{name}=middle()" for name in STEPS[1:-1])},
        {STEPS[-1]}=last(),
    )
    '''
)

MARKUP_ERROR = "[red]x[/red]: annotated list[int]"

FAILING = textwrap.dedent(
    f"""
    from zenml_kf import pipeline, step


    @step
    def make() -> int:
        return 1


    @step
    def breaks(x: int) -> int:
        raise ValueError({MARKUP_ERROR!r})


    @pipeline
    def failing(make, breaks):
        breaks(make())


    p = failing(make=make(), breaks=breaks())
    """
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield new_project(tmp_path_factory.mktemp("out"), {"churn.py": TEN_STEPS, "failing.py": FAILING})


def latest_run_id(root: Path, pipeline: str) -> str:
    """The newest run's id, from the Python API rather than from the output under test."""
    code = f"from zenml_kf import Repository; print(Repository().get_pipeline({pipeline!r}).runs[-1].id)"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def some_run(root: Path) -> str:
    """A run of the ten-step pipeline: the latest, or a new one when this test runs alone."""
    try:
        return latest_run_id(root, PIPELINE_NAME)
    except subprocess.CalledProcessError:
        code, _, err = piped("run", "churn.py:p", cwd=root)
        assert code == 0, err
        return latest_run_id(root, PIPELINE_NAME)


def assert_id_whole_on_a_line(output: str, run_id: str) -> None:
    assert any(run_id in line for line in visible_lines(output)), f"{run_id} not whole on a line:\n{output}"


def test_a_ten_step_run_piped_at_80_columns_is_a_short_summary(tmp_path: Path) -> None:
    project = new_project(tmp_path, {"churn.py": TEN_STEPS})  # its own: the first run executes every step
    code, out, err = piped("run", "churn.py:p", cwd=project, env={"ZENML_KF_ORCHESTRATOR_MAX_WORKERS": "1"})
    assert code == 0, err
    run_id = latest_run_id(project, PIPELINE_NAME)
    assert len(run_id) > 50
    # every step has its status line as it runs (stderr), and the summary (stdout) is short
    for name in STEPS:
        assert f"✓ {name} completed" in err or f"↻ {name} cached" in err
    assert len(after_step_lines(err)) == 0, err  # the closing line is the summary's
    summary = [line for line in out.splitlines() if line.strip()]
    assert 2 <= len(summary) <= 14, out
    assert summary[0].startswith("Run completed in "), out
    assert "10 steps, 10 ran, 0 cached, 0 failed" in summary[0]
    assert "Steps" not in out and "Artifacts" not in out  # the tables are describe's
    assert too_wide(out) == [] and too_wide(err) == []
    assert_id_whole_on_a_line(out, run_id)
    assert "\x1b" not in out + err  # a pipe gets plain text
    # the id as printed works when pasted into `runs describe`
    printed = next(word for line in summary for word in line.split() if word.startswith(PIPELINE_NAME))
    code, described, err = piped("runs", "describe", printed, cwd=project)
    assert code == 0, err
    assert_id_whole_on_a_line(described, run_id)
    for name in STEPS:
        assert name in described
    assert too_wide(described) == [], described
    assert not any(c in described for c in "┃│━─┏"), described  # no box drawing when piped
    # artifacts relative to the run's folder, named once above the table
    artifacts = [line.split() for line in described.splitlines() if line.startswith(tuple(STEPS))]
    assert ["load_customer_records", "output", "list", "load_customer_records/output"] in artifacts


def test_a_ten_step_run_in_an_80_column_terminal(project: Path) -> None:
    some_run(project)  # so that the run below takes every step from the cache
    code, shown = in_pty("run", "churn.py:p", cwd=project)
    assert code == 0, shown
    run_id = latest_run_id(project, PIPELINE_NAME)
    after = after_step_lines(shown)
    assert 2 <= len(after) <= 14, shown
    assert "10 steps, 0 ran, 10 cached, 0 failed" in after[0], shown
    assert too_wide(shown) == [], shown
    assert_id_whole_on_a_line(shown, run_id)
    assert ANSI.search(shown), "a terminal gets styles"
    printed = next(word for line in after for word in line.split() if word.startswith(PIPELINE_NAME))
    assert printed == run_id
    code, described = in_pty("runs", "describe", printed, cwd=project)
    assert code == 0, described
    assert too_wide(described) == [], described
    assert_id_whole_on_a_line(described, run_id)
    # URIs are relative to the run's folder; a run that reused everything names the run
    # that wrote the artifacts, whole, under the table
    assert "load_customer_records/output (1)" in described, described
    reused = [line for line in visible_lines(described) if line.startswith("(1) reused from run ")]
    assert len(reused) == 1 and reused[0].split()[-1].startswith(PIPELINE_NAME), described


def test_describe_wide_shows_whole_uris(project: Path) -> None:
    run_id = some_run(project)
    code, out, err = piped("runs", "describe", run_id, "--wide", cwd=project)
    assert code == 0, err
    store = project / ".zen" / "local_stores" / "artifacts" / PIPELINE_NAME
    assert str(store) in out and "BuiltInContainerMaterializer" in out
    assert too_wide(out) != []  # wide means wide: whole URIs on one line each
    uri_lines = [line for line in out.splitlines() if str(store) in line]
    assert len(uri_lines) == len(STEPS)


def test_no_color_means_no_escape_codes_in_a_terminal(project: Path) -> None:
    run_id = some_run(project)
    code, shown = in_pty("runs", "describe", run_id, cwd=project, env={"NO_COLOR": "1"})
    assert code == 0, shown
    assert "\x1b" not in shown, repr(shown[:300])
    assert run_id in shown
    code, shown = in_pty("runs", "list", cwd=project, env={"NO_COLOR": "1"})
    assert code == 0 and "\x1b" not in shown and run_id in shown


@pytest.mark.parametrize("mode", ["piped", "pty"])
def test_step_errors_print_literally_not_as_markup(project: Path, mode: str) -> None:
    if mode == "piped":
        code, out, err = piped("run", "failing.py:p", cwd=project)
        shown, summary = out + err, visible_lines(out)  # the summary is on stdout
    else:
        code, shown = in_pty("run", "failing.py:p", cwd=project)
        summary = after_step_lines(shown)
    assert code == 1, shown
    assert MARKUP_ERROR in shown, shown
    assert any(line.startswith("Run failed after ") and "1 failed" in line for line in summary), shown
    assert any(line.strip().startswith("breaks: ") and MARKUP_ERROR in line for line in summary), shown
    assert visible_lines(shown)[-1].startswith("Error: step 'breaks' raised ValueError")
    run_id = latest_run_id(project, "failing")
    code, out, err = piped("runs", "describe", run_id, cwd=project)
    assert code == 0 and MARKUP_ERROR in out, out
