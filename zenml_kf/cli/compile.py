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
from zenml_kf.grammar import plural

if TYPE_CHECKING:
    from zenml_kf.images.builder import ImageOptions
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.stack.stack import Stack

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
    str | None,
    typer.Option(
        "--repository",
        help="Image repository, with a registry to push to (registry/team/steps) "
        "[default: the stack's image registry, else zenml-kf-steps].",
    ),
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
    str | None,
    typer.Option(
        "--python-image",
        help="Python 3.11 image the zenml-kf base image starts from [default: python:3.11-slim].",
    ),
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
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="Compile as this stack would run it [default: the active one]."),
    ] = None,
    root: RootOption = None,
    repository: RepositoryOption = None,
    requirements: RequirementsOption = None,
    wheelhouse: WheelhouseOption = None,
    python_image: PythonImageOption = None,
    base_image: BaseImageOption = None,
    index_url: IndexUrlOption = None,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Compile a pipeline to Kubeflow Pipelines v2 YAML.

    One container per step.

    On a kubeflow stack the YAML is the one 'zenml run' submits: the stack's image
    registry, its artifact store as pipeline root, its default step settings.
    """
    from zenml_kf.log import ensure_console_handler
    from zenml_kf.pipelines.compilation import ImageChoice, compile_for, stack_for

    ensure_console_handler()
    choice = ImageChoice(image=image, build=build, push=push)
    choice.check()  # before importing user code: the cheapest checks first
    resolved = stack_for(stack)
    code_root = _code_root(root)
    pipeline = _load(target, code_root, config)
    choice.options = _options(
        code_root,
        resolved,
        repository,
        requirements,
        wheelhouse,
        python_image,
        base_image,
        index_url,
        ca_bundle,
    )
    compiled = compile_for(resolved, pipeline, output, choice)
    graph = compiled.graph
    echo(
        f"Compiled pipeline '{graph.name}' ({plural(len(graph.steps), 'step')}) to {compiled.path} "
        f"with image {compiled.image}."
    )
    if compiled.note:
        echo(f"{compiled.note}: run 'zenml image build {target}' (same options) or compile with --build.")
    echo("Upload it in the KFP UI (Pipelines > Upload pipeline), or with the kfp CLI:")
    echo(f"  kfp --endpoint http://KFP_HOST pipeline create --pipeline-name {graph.name} {compiled.path}")


def image_build_command(
    target: TargetArg,
    push: PushOption = False,
    config: ConfigOption = None,
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="Use this stack's image settings [default: the active one]."),
    ] = None,
    root: RootOption = None,
    repository: RepositoryOption = None,
    requirements: RequirementsOption = None,
    wheelhouse: WheelhouseOption = None,
    python_image: PythonImageOption = None,
    base_image: BaseImageOption = None,
    index_url: IndexUrlOption = None,
    ca_bundle: CaBundleOption = None,
) -> None:
    """Build a pipeline's step image, tagged by its content.

    Optionally push it to the registry.
    """
    from dataclasses import replace

    from zenml_kf.images import known
    from zenml_kf.images.builder import build_step_image, project_digest
    from zenml_kf.log import ensure_console_handler
    from zenml_kf.pipelines.compilation import stack_for, warn_missing_imports

    ensure_console_handler()
    resolved = stack_for(stack)
    code_root = _code_root(root)
    options = _options(
        code_root,
        resolved,
        repository,
        requirements,
        wheelhouse,
        python_image,
        base_image,
        index_url,
        ca_bundle,
    )
    # An unchanged project was checked and its graph's requirements recorded by an
    # earlier build: answer without importing the user's code (see images/known.py).
    key = known.project_key(project_digest(options), target, config)
    record = known.lookup(key)
    if record is None:
        pipeline = _load(target, code_root, config)
        _check_sources(pipeline, code_root)
        graph = pipeline.graph
        warn_missing_imports(graph, replace(options, materializer_requirements=graph.requirements))
        record = known.Known(pipeline.name, graph.requirements)
    options = replace(options, materializer_requirements=record.requirements)
    built = build_step_image(options, push=push, log=echo)
    known.remember(key, record)
    echo(f"Step image for pipeline '{record.pipeline}': {built.reference}")


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
    from zenml_kf.pipelines.compilation import default_code_root

    return default_code_root()


def _options(
    code_root: Path,
    stack: Stack | None,
    repository: str | None,
    requirements: list[Path] | None,
    wheelhouse: Path | None,
    python_image: str | None,
    base_image: str | None,
    index_url: str | None,
    ca_bundle: Path | None,
) -> ImageOptions:
    """Image options from the command line, else the stack's orchestrator, else defaults."""
    from zenml_kf.images.builder import DEFAULT_PYTHON_IMAGE, ImageOptions, read_requirements
    from zenml_kf.images.reference import parse_image_reference
    from zenml_kf.orchestrators.kubeflow import as_kubeflow

    kubeflow = as_kubeflow(stack.orchestrator) if stack is not None else None
    fallback = kubeflow.image_options() if kubeflow is not None else None
    repository = repository or (fallback.repository if fallback else "zenml-kf-steps")
    python_image = python_image or (fallback.python_image if fallback else DEFAULT_PYTHON_IMAGE)
    base_image = base_image or (fallback.base_image if fallback else None)

    parse_image_reference(repository)
    parse_image_reference(python_image)
    if base_image is not None:
        parse_image_reference(base_image)
    lines = (
        read_requirements(requirements) if requirements else list(fallback.requirements if fallback else [])
    )
    if wheelhouse is None and fallback is not None and fallback.wheelhouse is not None:
        wheelhouse = fallback.wheelhouse
    index_url = index_url or (fallback.index_url if fallback else None)
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
        network_mode=None if wheelhouse else "host",
    )
