"""zenml-kf installed from its built wheel into a fresh virtualenv, as users install it:
the CLI works, compiling works, and the step image tag is the one the editable install of
the same source names (the tag must not depend on how zenml-kf was installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git_init, run_cli

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "tests" / "compiler" / "project"

pytestmark = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = (base / "dist").glob("zenml_kf-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def _project(root: Path) -> Path:
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    git_init(root)
    return root


def _image(yaml_path: Path) -> str:
    images = set(re.findall(r"^\s+image: (\S+)$", yaml_path.read_text(), flags=re.MULTILINE))
    assert len(images) == 1, images
    return images.pop()


def test_the_wheel_install_compiles_with_the_tag_the_editable_install_names(
    wheel_venv: Path, tmp_path: Path
) -> None:
    zenml = str(wheel_venv / "bin" / "zenml")
    helped = subprocess.run([zenml, "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "compile" in helped.stdout, helped.stderr

    from_wheel = _project(tmp_path / "from-wheel")
    for args in (["init"], ["compile", "flows.py:linear_pipeline", "-o", "out.yaml"]):
        proc = subprocess.run([zenml, *args], cwd=from_wheel, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    located = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-c", "import zenml_kf; print(zenml_kf.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(wheel_venv) in located  # the wheel's copy ran, not this checkout
    chart = subprocess.run(
        [
            str(wheel_venv / "bin" / "python"),
            "-c",
            "from zenml_kf.stack.deploy import chart_path; print(chart_path())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert chart.startswith(str(wheel_venv))  # `zenml stack deploy` finds the chart in a pip install

    def files(root: Path) -> list[str]:  # pip byte-compiles the chart's helm-test script
        found = (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        return sorted(p.relative_to(root).as_posix() for p in found)

    assert files(Path(chart)) == files(REPO / "charts" / "zenml-kf-stack")

    from_source = _project(tmp_path / "from-source")
    assert run_cli("init", cwd=from_source).code == 0
    result = run_cli("compile", "flows.py:linear_pipeline", "-o", "out.yaml", cwd=from_source)
    assert result.code == 0, result
    assert _image(from_wheel / "out.yaml") == _image(from_source / "out.yaml")
