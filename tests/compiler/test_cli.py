"""`zenml compile` and `zenml image build` as a user runs them: output, and bad input as
one-line errors with a non-zero exit and no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.compiler.conftest import PROJECT, parse_compiled
from tests.conftest import assert_clean_error, run_cli


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_compile_writes_yaml_and_says_how_to_upload(workdir: Path) -> None:
    result = run_cli(
        "compile",
        "flows.py:linear_pipeline",
        "-o",
        "out/linear.yaml",
        "--image",
        "ghcr.io/acme/steps:1.0",
        cwd=workdir,
    )
    assert result.code == 0, result
    path = workdir / "out" / "linear.yaml"
    assert str(path) in result.out
    assert "Upload pipeline" in result.out and "kfp" in result.out and "pipeline create" in result.out
    compiled = parse_compiled(path)
    assert compiled.executor("scale")["image"] == "ghcr.io/acme/steps:1.0"


def test_compile_without_image_names_the_content_tag_and_needs_no_docker(workdir: Path) -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    first = run_cli("compile", "flows.py:linear_pipeline", "-o", "a.yaml", cwd=workdir, env=env)
    assert first.code == 0, first
    image = parse_compiled(workdir / "a.yaml").executor("numbers")["image"]
    assert image.startswith("zenml-kf-steps:")
    assert "zenml image build" in first.out
    # the output file is not part of the image, so compiling again gives the same tag
    again = run_cli("compile", "flows.py:linear_pipeline", "-o", "a.yaml", cwd=workdir, env=env)
    assert parse_compiled(workdir / "a.yaml").executor("numbers")["image"] == image
    # a code change gives a new tag
    (workdir / "helper.py").write_text("X = 1\n")
    changed = run_cli("compile", "flows.py:linear_pipeline", "-o", "b.yaml", cwd=workdir, env=env)
    assert changed.code == 0 and again.code == 0
    assert parse_compiled(workdir / "b.yaml").executor("numbers")["image"] != image


def test_compiled_yaml_anywhere_in_the_project_never_changes_the_image_tag(workdir: Path) -> None:
    """`zenml image build` (which has no -o) must build the tag an earlier compile named."""
    from zenml_kf.images.builder import ImageOptions, step_image_tag

    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    assert run_cli("compile", "flows.py:linear_pipeline", "-o", "a.yaml", cwd=workdir, env=env).code == 0
    image = parse_compiled(workdir / "a.yaml").executor("numbers")["image"]
    assert run_cli("compile", "flows.py:linear_pipeline", "-o", "out/b.yaml", cwd=workdir, env=env).code == 0
    assert parse_compiled(workdir / "out" / "b.yaml").executor("numbers")["image"] == image
    assert step_image_tag(ImageOptions(code_root=workdir)) == image


def test_config_file_overrides_parameters_and_settings(workdir: Path) -> None:
    (workdir / "run.yaml").write_text(
        "settings: {memory_limit: 3Gi}\nsteps:\n  scale:\n    parameters: {factor: 9.5}\n    settings: {cpu_limit: '4'}\n"
    )
    result = run_cli(
        "compile",
        "flows.py:linear_pipeline",
        "-o",
        "c.yaml",
        "--config",
        "run.yaml",
        "--image",
        "steps:1",
        cwd=workdir,
    )
    assert result.code == 0, result
    compiled = parse_compiled(workdir / "c.yaml")
    assert compiled.spec.root.input_definitions.parameters["scale-factor"].default_value.number_value == 9.5
    assert compiled.executor("scale")["resources"]["resourceCpuLimit"] == "4"
    assert compiled.executor("total")["resources"]["resourceMemoryLimit"] == "3Gi"


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ("{cpu_limit: 2 cores}", "'2 cores' is not a CPU quantity"),
        ("{memory_limit: 4GB}", "'4GB' is not a memory quantity"),
        ("{gpu_type: nvidia.com/gpu, gpu_count: 3}", "3 GPUs cannot be requested"),
    ],
)
def test_invalid_settings(workdir: Path, settings: str, fragment: str) -> None:
    (workdir / "bad.yaml").write_text(f"steps:\n  scale:\n    settings: {settings}\n")
    result = run_cli(
        "compile", "flows.py:linear_pipeline", "--config", "bad.yaml", "--image", "steps:1", cwd=workdir
    )
    assert_clean_error(result, "settings of step 'scale' are invalid", fragment)
    assert not (workdir / "pipeline.yaml").exists()


@pytest.mark.parametrize("image", ["Steps:1", "steps:1 2", "registry:5000/:tag", "steps@sha256:123", "a//b"])
def test_invalid_image_reference(workdir: Path, image: str) -> None:
    result = run_cli("compile", "flows.py:linear_pipeline", "--image", image, cwd=workdir)
    assert_clean_error(result, f"'{image}' is not a valid image reference")


def test_invalid_repository_for_build(workdir: Path) -> None:
    result = run_cli("image", "build", "flows.py:linear_pipeline", "--repository", "Not/Valid", cwd=workdir)
    assert_clean_error(result, "'Not/Valid' is not a valid image reference")


def test_pipeline_module_that_fails_to_import(workdir: Path) -> None:
    (workdir / "broken.py").write_text("import numpy\nraise RuntimeError('no config found')\n")
    result = run_cli("compile", "broken.py:p", cwd=workdir)
    assert_clean_error(result, "importing 'broken.py:p' failed with RuntimeError: no config found")


def test_pipeline_module_that_does_not_exist(workdir: Path) -> None:
    result = run_cli("compile", "nowhere.flows:p", cwd=workdir)
    assert_clean_error(result, "cannot import module 'nowhere.flows'")


def test_step_outside_the_code_root_cannot_be_imported_from_the_image(workdir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(
        "compile", f"{workdir}/flows.py:linear_pipeline", "--root", str(elsewhere), cwd=elsewhere
    )
    assert_clean_error(result, "step 'numbers' is defined in", "outside the code root", "cannot import it")


def test_output_whose_materializer_the_image_cannot_import(workdir: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared_lib"
    shared.mkdir()
    (shared / "custom_mat.py").write_text(
        "from zenml_kf import BaseMaterializer\n"
        "class TextMaterializer(BaseMaterializer):\n"
        "    def save(self, data, path):\n"
        "        (path / 'v.txt').write_text(str(data))\n"
    )
    (workdir / "ext_mat.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(shared)!r})\n"
        "from custom_mat import TextMaterializer\n"
        "from zenml_kf import pipeline, step\n"
        "@step(output_materializers={'output': TextMaterializer})\n"
        "def produce() -> int:\n"
        "    return 1\n"
        "@pipeline\n"
        "def p(produce):\n"
        "    produce()\n"
        "flow = p(produce=produce())\n"
    )
    result = run_cli("compile", "ext_mat.py:flow", cwd=workdir)
    assert_clean_error(
        result, "the materializer of output 'output' of step 'produce' is defined in", "outside the code root"
    )


def test_output_materializer_defined_inside_a_function(workdir: Path) -> None:
    (workdir / "local_mat.py").write_text(
        "from zenml_kf import BaseMaterializer, pipeline, step\n"
        "def make():\n"
        "    class InlineMaterializer(BaseMaterializer):\n"
        "        pass\n"
        "    return InlineMaterializer\n"
        "@step(output_materializers={'output': make()})\n"
        "def produce() -> int:\n"
        "    return 1\n"
        "@pipeline\n"
        "def p(produce):\n"
        "    produce()\n"
        "flow = p(produce=produce())\n"
    )
    result = run_cli("compile", "local_mat.py:flow", "--image", "steps:1", cwd=workdir)
    assert_clean_error(result, "InlineMaterializer")


def test_pickled_output_compiles_with_a_warning(workdir: Path) -> None:
    (workdir / "pickled.py").write_text(
        "from zenml_kf import pipeline, step\n"
        "class Thing:\n"
        "    pass\n"
        "@step\n"
        "def produce() -> Thing:\n"
        "    return Thing()\n"
        "@pipeline\n"
        "def p(produce):\n"
        "    produce()\n"
        "flow = p(produce=produce())\n"
    )
    result = run_cli("compile", "pickled.py:flow", "--image", "steps:1", cwd=workdir)
    assert result.code == 0, result
    assert "output 'output' of step 'produce' (pickled.Thing) is pickled" in result.err


def test_push_needs_build_and_image_excludes_build(workdir: Path) -> None:
    assert_clean_error(
        run_cli("compile", "flows.py:linear_pipeline", "--push", cwd=workdir), "--push needs --build"
    )
    assert_clean_error(
        run_cli("compile", "flows.py:linear_pipeline", "--build", "--image", "a:1", cwd=workdir),
        "--image and --build exclude each other",
    )


def test_build_without_a_docker_daemon(workdir: Path) -> None:
    result = run_cli(
        "image",
        "build",
        "flows.py:linear_pipeline",
        cwd=workdir,
        env={"DOCKER_HOST": "unix:///nonexistent.sock"},
    )
    assert_clean_error(result, "cannot reach the Docker daemon")
