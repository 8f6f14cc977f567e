"""Artifacts read back from any working directory: a custom materializer in the user's
package is imported from the repository's code root, not from the current folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import _clean_env, new_project, run_cli

TREND = """
import json
from pathlib import Path
from typing import Any

from zenml_kf import BaseMaterializer


class Trend:
    def __init__(self, slope: float) -> None:
        self.slope = slope


class TrendMaterializer(BaseMaterializer):
    def save(self, data: Any, path: Path) -> None:
        (path / "trend.json").write_text(json.dumps({"slope": data.slope}))

    def load(self, path: Path, data_type: type) -> Any:
        return Trend(json.loads((path / "trend.json").read_text())["slope"])
"""

PIPELINE = """
from salesflow.trend import Trend, TrendMaterializer
from zenml_kf import pipeline, step


@step(output_materializers={"output": TrendMaterializer})
def fit() -> Trend:
    return Trend(0.25)


@pipeline
def sales(fit):
    fit()


p = sales(fit=fit())
"""

READ = """
import sys
from zenml_kf import Repository
print(Repository(sys.argv[1]).get_pipeline("sales").runs[-1].get_step("fit").output.read().slope)
"""


def test_a_custom_materializer_reads_from_another_folder(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"sales_pipeline.py": PIPELINE})
    (root / "salesflow").mkdir()
    (root / "salesflow" / "__init__.py").write_text("")
    (root / "salesflow" / "trend.py").write_text(TREND)
    assert run_cli("run", "sales_pipeline.py:p", cwd=root).code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    read = subprocess.run(
        [sys.executable, "-c", READ, str(root)],
        cwd=elsewhere,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert read.returncode == 0 and read.stdout.strip() == "0.25", read.stderr

    (root / "salesflow" / "trend.py").unlink()  # the code that wrote it is gone
    gone = subprocess.run(
        [sys.executable, "-c", READ, str(root)],
        cwd=elsewhere,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert gone.returncode != 0
    last = gone.stderr.strip().splitlines()[-1]
    assert "MaterializerError: artifact 'output' was written by salesflow.trend:TrendMaterializer" in last
    assert "which cannot be imported here" in last
