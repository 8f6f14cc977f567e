"""Compile a pipeline to KFP YAML with its step image: the one path `zenml compile`,
`Pipeline.compile` and the kubeflow orchestrator share, so the file a user uploads by
hand is the file `zenml run` submits.

The image is one of three: named (`image=`), built and maybe pushed (`build=True`), or
the content tag a build would give, named without building (the default; compiling then
needs no Docker).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from zenml_kf.exceptions import CompilerError

if TYPE_CHECKING:
    from zenml_kf.images.builder import ImageOptions
    from zenml_kf.pipelines.graph import PipelineGraph
    from zenml_kf.pipelines.pipeline import Pipeline
    from zenml_kf.stack.stack import Stack


@dataclass
class ImageChoice:
    """Which image the steps run in, and how to make it."""

    image: str | None = None
    build: bool = False
    push: bool = False
    options: ImageOptions | None = None  # how to build or tag it; defaults for the code root

    def check(self) -> None:
        if self.image is not None and self.build:
            raise CompilerError("--image and --build exclude each other; name an image or build one")
        if self.push and not self.build:
            raise CompilerError(
                "--push needs --build; to use a pushed image pass --image REGISTRY/NAME@sha256:..."
            )
        if self.image is not None:
            from zenml_kf.images.reference import parse_image_reference

            parse_image_reference(self.image)


@dataclass(frozen=True)
class CompiledPipeline:
    path: Path
    image: str
    graph: PipelineGraph
    note: str | None  # set when the named image was not built by this call

    @property
    def spec_hash(self) -> str:
        """A hash of the compiled file: equal files are the same pipeline version."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def default_code_root() -> Path:
    """The zenml repository's root, else the git root, else the current directory."""
    from zenml_kf.git_state import git_toplevel
    from zenml_kf.repository import find_root

    cwd = Path.cwd().resolve()
    return find_root(cwd) or git_toplevel(cwd) or cwd


def stack_for(name: str | None) -> Stack | None:
    """The stack a pipeline is compiled for: the named or active one; none outside a
    zenml repository unless one is named (compiling needs no stack)."""
    from zenml_kf.repository import Repository, find_root

    if name is None and find_root(Path.cwd().resolve()) is None:
        return None
    return Repository().get_stack(name)


def compile_for(
    stack: Stack | None, pipeline: Pipeline, output: str | Path, choice: ImageChoice
) -> CompiledPipeline:
    """The YAML `stack`'s orchestrator would run (plain without a stack)."""
    if stack is None:
        return compile_pipeline(pipeline, output, choice)
    return stack.orchestrator.compile(pipeline, output, choice, stack)


def check_output(output: Path) -> Path:
    """Refuse a path KFP's compiler cannot write before anything is built."""
    if output.suffix not in (".yaml", ".yml"):
        raise CompilerError(f"output '{output}' must end in .yaml or .yml, as a KFP pipeline file does")
    if output.is_dir():
        raise CompilerError(
            f"output '{output}' is a folder; give a file in it, e.g. {output / 'pipeline.yaml'}"
        )
    return output


def compile_pipeline(
    pipeline: Pipeline,
    output: str | Path,
    choice: ImageChoice | None = None,
    pipeline_root: str | None = None,
    log: Callable[[str], None] = print,
) -> CompiledPipeline:
    """Resolve the step image, check the steps can be imported from it, write the YAML."""
    from compiler import compile_graph
    from zenml_kf.images.builder import ImageOptions

    choice = choice or ImageChoice()
    choice.check()
    output = check_output(Path(output))
    options = choice.options or ImageOptions(code_root=default_code_root())
    # The YAML written here must not change the tag it names (nor a later build's).
    graph = pipeline.graph
    options = replace(
        options,
        exclude=[*options.exclude, output.resolve()],
        materializer_requirements=graph.requirements,
    )
    note = None
    image = choice.image
    if image is None:  # a named image was built some other way: its contents are unknown
        warn_missing_imports(graph, options)
    if image is None and choice.build:
        from compiler.checks import check_graph
        from zenml_kf.images.builder import build_step_image

        check_graph(graph, options.code_root, strict=True)
        image = build_step_image(options, push=choice.push, log=log).reference
    elif image is None:
        from zenml_kf.images.builder import step_image_tag

        image = step_image_tag(options)
        note = f"The image {image} is not built by this command"
    path = compile_graph(
        graph,
        image,
        output,
        code_root=options.code_root,
        strict=choice.image is None,  # a given image was built some other way
        pipeline_root=pipeline_root,
    )
    return CompiledPipeline(path.resolve(), image, graph, note)


def warn_missing_imports(graph: PipelineGraph, options: ImageOptions) -> None:
    """One warning per top-level package the step code imports that the step image
    (base, the user's requirements, the materializers' requirements) will not have."""
    import sys

    from zenml_kf.images.imports import missing_imports
    from zenml_kf.images.requirements import base_requirements
    from zenml_kf.log import get_logger

    root = options.code_root.resolve()
    sources = {spec.source for spec in graph.steps}
    sources |= {spec.config_source for spec in graph.steps if spec.config_source}
    sources |= {out.materializer for spec in graph.steps for out in spec.outputs if out.materializer}
    files = []
    for source in sorted(sources):
        file = getattr(sys.modules.get(source.partition(":")[0]), "__file__", None)
        if file is not None and Path(file).resolve().is_relative_to(root):
            files.append(Path(file))
    requirements = [*base_requirements(), *options.requirements, *graph.requirements]
    for missing in missing_imports(files, root, requirements):
        get_logger().warning("%s", missing.message())
