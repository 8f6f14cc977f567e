"""`zenml compile` and `zenml image build`: KFP YAML and the step image.

Compiling needs no cluster, registry or Docker: without `--image` or `--build` the YAML
names the content-addressed tag that `zenml image build` produces for the same code.
kfp and the docker SDK are imported only inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zenml_kf.cli.output import echo
from zenml_kf.exceptions import CompilerError

if TYPE_CHECKING:
    from zenml_kf.images.builder import ImageOptions
    from zenml_kf.pipelines.pipeline import Pipeline

image_app = typer.Typer(
    help="Build the container image the steps of a pipeline run in.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TargetArg = Annotated[
    str, typer.Argument(help="Pipeline instance: path/to/file.py:attr or package.module:attr.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML file with parameter and settings overrides."),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Code root copied into the image [default: the zenml repository, else the git root, else .].",
    ),
]
RepositoryOption = Annotated[
    str,
    typer.Option("--repository", help="Image repository, with a registry to push to (registry/team/steps)."),
]
RequirementsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--requirements", "-r", help="requirements.txt of the steps' own dependencies (repeatable)."
    ),
]
WheelhouseOption = Annotated[
    Path | None,
    typer.Option("--wheelhouse", help="Folder of wheels: builds install from it with no network."),
]
PythonImageOption = Annotated[
    str, typer.Option("--python-image", help="Python 3.11 image the zenml-kf base image starts from.")
]
BaseImageOption = Annotated[
    str | None,
    typer.Option(
        "--base-image", help="A ready zenml-kf base image (skips building one from images/Dockerfile)."
    ),
]
IndexUrlOption = Annotated[str | None, typer.Option("--index-url", help="Package index for pip in builds.")]
CaBundleOption = Annotated[
    Path | None, typer.Option("--ca-bundle", help="Extra CA certificates pip trusts during builds.")
]
PushOption = Annotated[bool, typer.Option("--push", help="Push the image and reference it by digest.")]


def compile_command(
    target: TargetArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the KFP pipeline YAML.")
    ] = Path("pipeline.yaml"),
    image: Annotated[
        str | None, typer.Option("--image", help="Run every step in this existing image.")
    ] = None,
    build: Annotated[
        bool, typer.Option("--build", help="Build the step image first (needs Docker).")
    ] = False,
    push: PushOption = False,
    config: ConfigOption = None,
    root: RootOption = None,
    repository: RepositoryOption = "zenml-kf-steps",
    requirements: RequirementsOption = None,
    wheelhouse: WheelhouseOption = None,
    python_image: PythonImageOption = "python:3.11-slim",
    base_image: BaseImageOption = None,
    index_url: IndexUrlOption = None,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Compile a pipeline to Kubeflow Pipelines v2 YAML, one container per step."""
    from zenml_kf.log import ensure_console_handler

    ensure_console_handler()
    if image is not None and build:
        raise CompilerError("--image and --build exclude each other; name an image or build one")
    if push and not build:
        raise CompilerError(
            "--push needs --build; to use a pushed image pass --image REGISTRY/NAME@sha256:..."
        )
    code_root = _code_root(root)
    strict = image is None  # a given image was built some other way: sources are its business
    if image is not None:
        from zenml_kf.images.reference import parse_image_reference

        parse_image_reference(image)  # before importing user code: the cheapest check first
    pipeline = _load(target, code_root, config)
    options = _options(
        code_root,
        repository,
        requirements,
        wheelhouse,
        python_image,
        base_image,
        index_url,
        ca_bundle,
        [output],
    )
    note = None
    if image is None and build:
        from zenml_kf.images.builder import build_step_image

        _check_sources(pipeline, code_root)
        image = build_step_image(options, push=push, log=echo).reference
    elif image is None:
        from zenml_kf.images.builder import step_image_tag

        image = step_image_tag(options)
        note = (
            f"The image {image} is not built by this command: run 'zenml image build {target}' "
            "(same options) or compile with --build."
        )
    from compiler import compile_graph

    path = compile_graph(pipeline.graph, image, output, code_root=code_root, strict=strict).resolve()
    graph = pipeline.graph
    echo(f"Compiled pipeline '{graph.name}' ({len(graph.steps)} steps) to {path} with image {image}.")
    if note:
        echo(note)
    echo("Upload it in the KFP UI (Pipelines > Upload pipeline), or with the kfp CLI:")
    echo(f"  kfp --endpoint http://KFP_HOST pipeline create --pipeline-name {graph.name} {path}")


def image_build_command(
    target: TargetArg,
    push: PushOption = False,
    config: ConfigOption = None,
    root: RootOption = None,
    repository: RepositoryOption = "zenml-kf-steps",
    requirements: RequirementsOption = None,
    wheelhouse: WheelhouseOption = None,
    python_image: PythonImageOption = "python:3.11-slim",
    base_image: BaseImageOption = None,
    index_url: IndexUrlOption = None,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Build the step image of a pipeline (tagged by content) and optionally push it."""
    from zenml_kf.images.builder import build_step_image
    from zenml_kf.log import ensure_console_handler

    ensure_console_handler()
    code_root = _code_root(root)
    pipeline = _load(target, code_root, config)
    _check_sources(pipeline, code_root)
    options = _options(
        code_root, repository, requirements, wheelhouse, python_image, base_image, index_url, ca_bundle, []
    )
    built = build_step_image(options, push=push, log=echo)
    echo(f"Step image for pipeline '{pipeline.name}': {built.reference}")


image_app.command("build")(image_build_command)


def _load(target: str, code_root: Path, config: Path | None) -> Pipeline:
    from zenml_kf.cli.targets import load_pipeline

    pipeline = load_pipeline(target, code_root)
    return pipeline.with_config(config) if config is not None else pipeline


def _check_sources(pipeline: Pipeline, code_root: Path) -> None:
    from compiler.checks import check_graph

    check_graph(pipeline.graph, code_root, strict=True)


def _code_root(root: Path | None) -> Path:
    if root is not None:
        if not root.is_dir():
            raise CompilerError(f"--root '{root}' is not a directory")
        return root.resolve()
    from zenml_kf.git_state import git_toplevel
    from zenml_kf.repository import find_root

    cwd = Path.cwd().resolve()
    return find_root(cwd) or git_toplevel(cwd) or cwd


def _options(
    code_root: Path,
    repository: str,
    requirements: list[Path] | None,
    wheelhouse: Path | None,
    python_image: str,
    base_image: str | None,
    index_url: str | None,
    ca_bundle: Path | None,
    exclude: list[Path],
) -> ImageOptions:
    from zenml_kf.images.builder import ImageOptions
    from zenml_kf.images.reference import parse_image_reference

    parse_image_reference(repository)
    parse_image_reference(python_image)
    if base_image is not None:
        parse_image_reference(base_image)
    lines: list[str] = []
    for file in requirements or []:
        try:
            text = file.read_text()
        except OSError as exc:
            raise CompilerError(f"cannot read requirements file '{file}': {exc.strerror}") from None
        lines.extend(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise CompilerError(
            f"--wheelhouse '{wheelhouse}' is not a directory; create it with 'pip wheel -w DIR ...'"
        )
    return ImageOptions(
        code_root=code_root,
        repository=repository,
        python_image=python_image,
        base_image=base_image,
        requirements=lines,
        wheelhouse=wheelhouse.resolve() if wheelhouse else None,
        index_url=index_url,
        ca_bundle=ca_bundle,
        exclude=[p.resolve() for p in exclude],
        network_mode=None if wheelhouse else "host",
    )
