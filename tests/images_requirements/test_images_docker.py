"""Lean step images that carry what the steps need, built for real (marker `docker`).

One pandas project is compiled with `--build` once per module; the tests read that image,
its base and one rebuild after a one-line change, so the slow vfs builds stay few.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.compiler.conftest import parse_compiled
from tests.conftest import new_project, run_cli
from tests.images_requirements.conftest import DockerSetup

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]

FLOWS = """\
import os

import pandas as pd

from zenml_kf import pipeline, step

if os.environ.get("IMPORT_LOG"):  # lets a test see whether a command imported this module
    with open(os.environ["IMPORT_LOG"], "a") as log:
        log.write("imported\\n")


@step
def make_frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3]})


@step
def count(frame: pd.DataFrame) -> int:
    return len(frame)


@pipeline
def frames(make_frame, count):
    count(frame=make_frame())


frames_pipeline = frames(make_frame=make_frame(), count=count())
"""


@dataclass
class Built:
    root: Path
    image: str
    base: str
    python_image: str
    env: dict[str, str]
    build_args: list[str]
    made: list[str]  # step images the tests built, removed at the end


def _docker(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"docker {' '.join(args[:3])} failed: {proc.stderr.strip()}"
    return proc.stdout


def _inspect(image: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(_docker("image", "inspect", image))
    return data[0]


def _base_of(image: str) -> str:
    """The zenml-kf base image a step image was built FROM: the tagged image whose layers
    the step image starts with."""
    layers = _inspect(image)["RootFS"]["Layers"]
    for line in _docker("images", "--format", "{{.Repository}}:{{.Tag}}", "zenml-kf-base").split():
        base_layers = _inspect(line)["RootFS"]["Layers"]
        if layers[: len(base_layers)] == base_layers:
            return line
    raise AssertionError(f"no zenml-kf-base image under {image}")


@pytest.fixture(scope="module")
def built(
    docker_engine: DockerSetup, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("images")
    root = new_project(base, {"flows.py": FLOWS})
    env = {"XDG_CACHE_HOME": str(base / "cache")}
    build_args = ["--python-image", docker_engine.python_image, "--wheelhouse", str(wheelhouse)]
    result = run_cli(
        "compile", "flows.py:frames_pipeline", "-o", "p.yaml", "--build", *build_args,
        cwd=root, env=env, timeout=1800,
    )  # fmt: skip
    assert result.code == 0, result
    assert "will not have" not in result.err, result  # pandas comes with its materializer
    image = parse_compiled(root / "p.yaml").executor("make-frame")["image"]
    setup = Built(root, image, _base_of(image), docker_engine.python_image, env, build_args, [image])
    yield setup
    for tag in setup.made:  # the base image stays: other runs with this wheelhouse reuse it
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def test_the_built_image_imports_pandas_and_pyarrow_at_the_local_versions(built: Built) -> None:
    out = _docker(
        "run", "--rm", "--network", "none", built.image, "python", "-c",
        "import pandas, pyarrow; print(pandas.__version__, pyarrow.__version__)",
    )  # fmt: skip
    assert out.split() == [metadata.version("pandas"), metadata.version("pyarrow")]


def test_no_build_input_is_left_in_any_layer(built: Built, wheelhouse: Path) -> None:
    wheels = {p.name for p in wheelhouse.glob("*.whl")}
    script = (
        "test ! -e /tmp/zenml-kf-build && echo no-build-folder; "
        "find / -xdev -name '*.whl' -not -path '/usr/share/python-wheels/*'; "
        # the SDK ships byte-compiled: one .pyc per module
        "echo py $(find /opt/zenml-kf -name '*.py' | wc -l) pyc $(find /opt/zenml-kf -name '*.pyc' | wc -l)"
    )
    for image in (built.base, built.image):
        lines = _docker("run", "--rm", "--network", "none", image, "sh", "-c", script).splitlines()
        assert lines[0] == "no-build-folder", (image, lines)
        found = [line for line in lines[1:-1] if Path(line).name in wheels or line.endswith(".whl")]
        assert found == [], (image, found)
        _, py, _, pyc = lines[-1].split()
        assert int(py) > 50 and pyc == py, (image, lines[-1])
        # No layer was made by an instruction that handled the wheels or the pip inputs.
        history = _docker("history", "--no-trunc", "--format", "{{.CreatedBy}}\t{{.Size}}", image)
        assert "wheelhouse" not in history and "zenml-kf-build" not in history, history

    # The base adds to the python image the empty /app (WORKDIR), the virtualenv and the SDK;
    # the step image adds the pandas/pyarrow prefix and the code: no layer of wheels or pip inputs.
    python_layers = _inspect(built.python_image)["RootFS"]["Layers"]
    base_layers = _inspect(built.base)["RootFS"]["Layers"]
    step_layers = _inspect(built.image)["RootFS"]["Layers"]
    assert base_layers[: len(python_layers)] == python_layers and len(base_layers) == len(python_layers) + 3
    assert step_layers[: len(base_layers)] == base_layers and len(step_layers) == len(base_layers) + 2
    sizes = _docker("history", "--format", "{{.Size}}\t{{.CreatedBy}}", built.base).splitlines()
    added = [line for line in sizes[: -len(python_layers)] if not line.startswith("0B")]
    assert len(added) == 2 and all("COPY" in line for line in added), sizes


def test_an_unchanged_project_answers_without_importing_the_users_code(built: Built) -> None:
    log = built.root.parent / "imports.log"
    env = {**built.env, "IMPORT_LOG": str(log)}
    first = run_cli("image", "build", "flows.py:frames_pipeline", *built.build_args, cwd=built.root, env=env)
    assert first.code == 0, first
    assert f"Reusing image {built.image}" in first.out, first
    assert log.read_text() == "imported\n"  # the first time the graph is read from the code

    log.unlink()
    second = run_cli("image", "build", "flows.py:frames_pipeline", *built.build_args, cwd=built.root, env=env)
    assert second.code == 0, second
    assert f"Reusing image {built.image}" in second.out
    assert second.out.splitlines()[-1] == f"Step image for pipeline 'frames': {built.image}"
    assert not log.exists(), "an unchanged project must not import the user's module"


def test_a_one_line_code_change_rebuilds_only_the_code_layer(built: Built) -> None:
    flows = built.root / "flows.py"
    original = flows.read_text()
    try:
        flows.write_text(original.replace("[1, 2, 3]", "[1, 2, 3, 4]"))
        result = run_cli(
            "image", "build", "flows.py:frames_pipeline", *built.build_args,
            cwd=built.root, env=built.env, timeout=1200,
        )  # fmt: skip
        assert result.code == 0, result
        changed = result.out.splitlines()[-1].rsplit(" ", 1)[-1]
        assert changed != built.image and changed.startswith("zenml-kf-steps:"), result
        built.made.append(changed)
        assert "Building image zenml-kf-base" not in result.out  # the base is unchanged
        before = _inspect(built.image)["RootFS"]["Layers"]
        after = _inspect(changed)["RootFS"]["Layers"]
        assert len(after) == len(before)
        assert after[:-1] == before[:-1]  # the base and the requirements layers are reused
        assert after[-1] != before[-1]  # only the code layer is new
        out = _docker(
            "run", "--rm", "--network", "none", changed, "grep", "-c", "1, 2, 3, 4", "/app/flows.py"
        )
        assert out.strip() == "1"
    finally:
        flows.write_text(original)
