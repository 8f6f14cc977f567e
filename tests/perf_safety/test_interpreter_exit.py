"""After a run, the process leaves without re-walking every object at exit, and garbage
that exists at exit is still finalized as Python's own exit would finalize it.

Each case is a script run as a subprocess, the way users start pipelines.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import _clean_env, new_project

SCRIPT = textwrap.dedent(
    """
    import atexit, gc, sys

    from zenml_kf import pipeline, step

    freezes = []
    real_freeze = gc.freeze
    gc.freeze = lambda: freezes.append(1) or real_freeze()
    # Registered before the runs, so it runs after zenml-kf's exit handler.
    atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, "times:", len(freezes)))


    @step
    def one() -> int:
        return 1


    @pipeline(name="tiny")
    def tiny(one):
        one()


    class Flushes:
        \"\"\"Writes its line only when finalized, like an unclosed buffered file.\"\"\"

        def __init__(self, path):
            self.path = path
            self.me = self  # a reference cycle: only the garbage collector frees it

        def __del__(self):
            with open(self.path, "a") as f:
                f.write("finalized\\n")


    if "--gc-off" in sys.argv:
        gc.disable()
    for _ in range(int(sys.argv[1])):
        tiny(one=one()).run()
    Flushes("finalized.txt")  # garbage from here on, in a cycle, until exit
    """
)


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "script.py", *args], cwd=root, env=_clean_env(), capture_output=True, text=True
    )


def test_run_freezes_at_exit_and_still_finalizes_cyclic_garbage(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"script.py": SCRIPT})
    proc = _run(root, "1")
    assert proc.returncode == 0, proc.stderr
    assert "frozen at exit: True times: 1" in proc.stdout
    assert (root / "finalized.txt").read_text() == "finalized\n"


def test_garbage_is_finalized_with_the_collector_disabled(tmp_path: Path) -> None:
    """Python's teardown collects even when gc is disabled, so the exit must too."""
    root = new_project(tmp_path, {"script.py": SCRIPT})
    proc = _run(root, "1", "--gc-off")
    assert proc.returncode == 0, proc.stderr
    assert (root / "finalized.txt").read_text() == "finalized\n"


def test_several_runs_freeze_once(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"script.py": SCRIPT})
    proc = _run(root, "3")
    assert proc.returncode == 0, proc.stderr
    assert "frozen at exit: True times: 1" in proc.stdout
