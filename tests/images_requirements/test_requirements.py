"""Step images carry what the steps need: materializer requirements pinned to the local
versions, the user's lines winning, and compile warning about imports the image lacks
(no Docker needed)."""

from __future__ import annotations

import tarfile
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import new_project, run_cli
from zenml_kf.images.builder import ImageOptions, _step_context, step_image_tag
from zenml_kf.images.distributions import requirement_name
from zenml_kf.images.requirements import base_requirements, image_requirements
from zenml_kf.materializers.numpy_materializer import NumpyMaterializer
from zenml_kf.materializers.pandas_materializer import PandasMaterializer
from zenml_kf.materializers.pickle_materializer import PickleMaterializer, SklearnMaterializer

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent.sock"}

FRAMES = """\
import numpy as np
import pandas as pd
from sklearn.svm import SVC

from zenml_kf import Output, pipeline, step


@step
def make() -> Output(frame=pd.DataFrame, array=np.ndarray):
    return pd.DataFrame({"a": [1, 2]}), np.arange(3)


@step
def fit(frame: pd.DataFrame) -> SVC:
    return SVC()


@pipeline
def frames(make, fit):
    frame, _ = make()
    fit(frame=frame)


frames_pipeline = frames(make=make(), fit=fit())
"""


def test_materializers_declare_the_distributions_they_need() -> None:
    assert PandasMaterializer.requirements_for("pandas.core.frame.DataFrame") == ("pandas", "pyarrow")
    assert NumpyMaterializer.requirements_for("numpy.ndarray") == ("numpy",)
    assert set(SklearnMaterializer.requirements_for("sklearn.svm._classes.SVC")) == {
        "cloudpickle",
        "scikit-learn",
    }
    # pickle needs the library that defines the class: found through the installed
    # distributions (import name sklearn -> distribution scikit-learn)
    assert PickleMaterializer.requirements_for("sklearn.svm._classes.SVC") == ("cloudpickle", "scikit-learn")
    assert PickleMaterializer.requirements_for("collections.OrderedDict") == ("cloudpickle",)
    assert PickleMaterializer.requirements_for("not_installed_anywhere.Thing") == ("cloudpickle",)


def test_pins_take_the_local_versions_and_the_users_lines_win() -> None:
    lines = image_requirements(["pandas>=2.0  # mine", "-r other.txt"], ["pandas", "pyarrow", "numpy"])
    assert lines[:2] == ["pandas>=2.0  # mine", "-r other.txt"]  # the user's lines, untouched, first
    # pandas is the user's, numpy the base image's (images/requirements.txt): only pyarrow is added
    assert lines[2:] == [f"pyarrow=={metadata.version('pyarrow')}"]
    assert "numpy" in {requirement_name(line) for line in base_requirements()}
    assert image_requirements([], ["scikit-learn"]) == [f"scikit-learn=={metadata.version('scikit-learn')}"]
    assert image_requirements(["Scikit_Learn==1.0"], ["scikit-learn"]) == ["Scikit_Learn==1.0"]
    assert image_requirements([], []) == []


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("pandas", "pandas"),
        ("Scikit_Learn[alldeps]>=1.3; python_version>'3.8'", "scikit-learn"),
        ("pyarrow @ https://example.invalid/pyarrow.whl", "pyarrow"),
        ("git+https://example.invalid/repo.git#egg=my_lib", "my-lib"),
        ("-r other.txt", None),
        ("--index-url https://example.invalid/simple", None),
        ("./local/package", None),
        ("# comment", None),
    ],
)
def test_requirement_names(line: str, name: str | None) -> None:
    assert requirement_name(line) == name


def test_the_graph_carries_the_materializer_requirements_and_they_join_the_image(tmp_path: Path) -> None:
    from zenml_kf.source import load_target

    root = new_project(tmp_path, {"flows.py": FRAMES})
    pipeline = load_target(f"{root}/flows.py:frames_pipeline", root)
    assert pipeline.graph.requirements == ["cloudpickle", "numpy", "pandas", "pyarrow", "scikit-learn"]

    options = ImageOptions(code_root=root, materializer_requirements=pipeline.graph.requirements)
    with tarfile.open(fileobj=_step_context(options, "base:1").tar()) as tar:
        member = tar.extractfile("requirements.txt")
        assert member is not None
        text = member.read().decode()
    # numpy and cloudpickle come with the base image
    assert text.splitlines() == [
        f"pandas=={metadata.version('pandas')}",
        f"pyarrow=={metadata.version('pyarrow')}",
        f"scikit-learn=={metadata.version('scikit-learn')}",
    ]
    # the pins are part of the content tag; a user line naming the package replaces its pin
    plain = ImageOptions(code_root=root)
    assert step_image_tag(options) != step_image_tag(plain)
    mine = ImageOptions(
        code_root=root, requirements=["pandas"], materializer_requirements=pipeline.graph.requirements
    )
    assert step_image_tag(mine) != step_image_tag(options)


def test_compiled_yaml_names_the_tag_that_includes_the_pins(tmp_path: Path) -> None:
    from tests.compiler.conftest import parse_compiled

    root = new_project(tmp_path, {"flows.py": FRAMES})
    result = run_cli("compile", "flows.py:frames_pipeline", "-o", "p.yaml", cwd=root, env=NO_DOCKER)
    assert result.code == 0, result
    image = parse_compiled(root / "p.yaml").executor("make")["image"]
    pinned = ImageOptions(
        code_root=root,
        materializer_requirements=["cloudpickle", "numpy", "pandas", "pyarrow", "scikit-learn"],
    )
    assert image == step_image_tag(pinned)
    assert image != step_image_tag(ImageOptions(code_root=root))
    assert "will not have" not in result.err  # every import is provided


STEPS = """\
import typing

import yaml  # in the base image
from helpers import features  # code root: followed, not warned about

if typing.TYPE_CHECKING:
    import torch  # only for type checkers
try:
    import lightgbm_is_optional
except ImportError:
    lightgbm_is_optional = None

from zenml_kf import pipeline, step


@step
def load() -> int:
    import sklearn  # runs in the pod

    return features()


@step
def report(value: int) -> None:
    import not_installed_pkg_xyz  # noqa: F401


@pipeline
def p(load, report):
    report(value=load())


pipe = p(load=load(), report=report())
"""

HELPERS = """\
import scipy.stats


def features() -> int:
    return 1
"""


def test_compile_warns_once_per_package_the_image_will_not_have(tmp_path: Path) -> None:
    root = new_project(tmp_path, {"steps.py": STEPS})
    (root / "helpers").mkdir()
    (root / "helpers" / "__init__.py").write_text("from helpers.features import features\n")
    (root / "helpers" / "features.py").write_text(HELPERS)
    result = run_cli("compile", "steps.py:pipe", "-o", "p.yaml", cwd=root, env=NO_DOCKER)
    assert result.code == 0, result
    warnings = [line for line in result.err.splitlines() if "will not have" in line]
    assert len(warnings) == 3, result
    by_module = {line.split("'")[1]: line for line in warnings}
    assert set(by_module) == {"not_installed_pkg_xyz", "scipy", "sklearn"}
    assert by_module["sklearn"].startswith("steps.py imports 'sklearn'")
    assert "add 'scikit-learn' to a requirements file and pass it with -r" in by_module["sklearn"]
    assert by_module["scipy"].startswith("helpers/features.py imports 'scipy'")  # found through helpers
    assert "add the package that provides 'not_installed_pkg_xyz'" in by_module["not_installed_pkg_xyz"]
    assert "Traceback" not in result.err

    # Naming them in the step requirements silences the warnings (scipy comes with scikit-learn).
    (root / "requirements.txt").write_text("scikit-learn\nnot-installed-pkg-xyz\n")
    again = run_cli(
        "compile", "steps.py:pipe", "-o", "p.yaml", "-r", "requirements.txt", cwd=root, env=NO_DOCKER
    )
    assert again.code == 0, again
    assert "will not have" not in again.err, again

    # A ready image given with --image is not checked: its contents are unknown.
    given = run_cli("compile", "steps.py:pipe", "-o", "p.yaml", "--image", "team/steps:1", cwd=root)
    assert given.code == 0 and "will not have" not in given.err, given
