"""Image references and build contexts (no Docker needed)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from zenml_kf.exceptions import CompilerError
from zenml_kf.images.builder import ImageOptions, repo_digest, step_image_tag
from zenml_kf.images.context import code_files
from zenml_kf.images.reference import parse_image_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "repository", "tag", "digest", "registry"),
    [
        ("steps", "steps", None, None, None),
        ("steps:1.0", "steps", "1.0", None, None),
        ("gcr.io/proj/steps:abc", "gcr.io/proj/steps", "abc", None, "gcr.io"),
        ("localhost:5000/steps:v1", "localhost:5000/steps", "v1", None, "localhost:5000"),
        (
            f"registry.example.com:443/team/steps@{DIGEST}",
            "registry.example.com:443/team/steps",
            None,
            DIGEST,
            "registry.example.com:443",
        ),
        (f"steps:1@{DIGEST}", "steps", "1", DIGEST, None),
    ],
)
def test_valid_references(
    text: str, repository: str, tag: str | None, digest: str | None, registry: str | None
) -> None:
    ref = parse_image_reference(text)
    assert (ref.repository, ref.tag, ref.digest, ref.registry) == (repository, tag, digest, registry)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text", ["", "Steps", "steps:", "steps: 1", "a//b", "-a/b", "steps@sha256:12", "host:port/x"]
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(CompilerError, match="is not a valid image reference"):
        parse_image_reference(text)


def test_repo_digest_picks_the_pushed_repository() -> None:
    attrs = {"RepoDigests": [f"other/x@sha256:{'b' * 64}", f"gcr.io/p/steps@{DIGEST}"]}
    assert repo_digest(attrs, "gcr.io/p/steps") == DIGEST
    assert repo_digest(attrs, "gcr.io/p/none") is None


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    for rel in (
        "pkg/__init__.py",
        "pkg/train.py",
        "pkg/__pycache__/train.cpython-311.pyc",
        ".zen/config.yaml",
        ".zen/local_stores/artifacts/x/data.json",
        ".zen/local_stores/metadata.db",
        ".git/HEAD",
        ".env",
        "conf/.env.production",
        "keys/service.pem",
        "gcp-credentials.json",
        ".aws/credentials",
        "data/big.csv",
        "notes.md",
        "README.md",
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}\n")
    (root / ".dockerignore").write_text("# comment\ndata\n*.md\n!README.md\n!.zen/local_stores\n")
    return root


def test_dockerignore_is_honoured_and_zen_and_secrets_never_go_in(code: Path) -> None:
    assert code_files(code) == ["README.md", "pkg/__init__.py", "pkg/train.py"]


def test_explicit_excludes_such_as_the_compiled_yaml(code: Path) -> None:
    (code / "pipeline.yaml").write_text("x")
    assert "pipeline.yaml" in code_files(code)
    assert "pipeline.yaml" not in code_files(code, exclude=[code / "pipeline.yaml"])


def test_content_tag_is_stable_and_follows_the_code(code: Path) -> None:
    options = ImageOptions(code_root=code, repository="registry.local:5000/steps")
    tag = step_image_tag(options)
    assert tag.startswith("registry.local:5000/steps:") and len(tag.rsplit(":", 1)[1]) == 16
    assert step_image_tag(options) == tag
    (code / ".zen" / "local_stores" / "new-artifact").write_text("ignored")
    (code / "data" / "more.csv").write_text("ignored")
    assert step_image_tag(options) == tag
    (code / "pkg" / "train.py").write_text("changed\n")
    assert step_image_tag(options) != tag
    with_requirements = ImageOptions(
        code_root=code, repository="registry.local:5000/steps", requirements=["pandas"]
    )
    assert step_image_tag(with_requirements) != step_image_tag(options)


def test_build_context_tar_is_reproducible(code: Path) -> None:
    from zenml_kf.images.builder import _step_context

    options = ImageOptions(code_root=code, requirements=["six"], ca_bundle=None)
    first, second = (
        _step_context(options, "base:1").tar().getvalue(),
        _step_context(options, "base:1").tar().getvalue(),
    )
    assert first == second
    with tarfile.open(fileobj=_step_context(options, "base:1").tar()) as tar:
        names = set(tar.getnames())
    assert {"Dockerfile", "requirements.txt", "ca-bundle.pem", "app/pkg/train.py", "app/README.md"} <= names
    assert not any(".zen" in n or ".env" in n or (n.endswith(".pem") and n != "ca-bundle.pem") for n in names)


def test_the_wheel_carries_the_base_image_dockerfile(tmp_path: Path) -> None:
    """`--build` must work from a pip-installed zenml-kf, not only from a source checkout."""
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(repo)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("zenml_kf-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in ("Dockerfile", "requirements.txt"):
            packaged = archive.read(f"zenml_kf/images/base/{name}")
            assert packaged == (repo / "images" / name).read_bytes()
