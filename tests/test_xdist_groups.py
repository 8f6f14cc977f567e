"""`make test` relies on `--dist loadgroup` keeping an xdist_group on one worker: each group
shares one server or one built image per worker, and a fixture's teardown removes what it
made. A pytest/pytest-xdist pair that ignores the groups splits them silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GROUPED = """\
import os

import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("i", range(6))
def test_worker(i):
    with open(os.environ["WORKERS_FILE"], "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q",
         str(tmp_path / "test_grouped.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "WORKERS_FILE": str(tmp_path / "workers.txt")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers
