"""Pipeline graph -> KFP v2 IR YAML, with the kfp SDK's own DSL and compiler.

Only the compile path imports this package (it imports kfp); the graph model in
`zenml_kf.pipelines.graph` is its only input.
"""

from __future__ import annotations

from pathlib import Path

from zenml_kf.pipelines.graph import PipelineGraph


def compile_graph(
    graph: PipelineGraph,
    image: str,
    output: str | Path,
    code_root: Path | None = None,
    strict: bool = True,
    pipeline_root: str | None = None,
) -> Path:
    """Check `graph`, compile it with every step in `image` and write the YAML to `output`.

    `code_root` is the directory copied into the step image: sources outside it cannot
    be imported in a container (an error, or a warning when `strict` is False because
    the image was built some other way). `pipeline_root` is where KFP writes artifacts
    unless a run says otherwise (the stack's artifact store).
    """
    from compiler.build import build_pipeline, write_pipeline
    from compiler.checks import check_graph
    from zenml_kf.images.reference import parse_image_reference

    parse_image_reference(image)
    check_graph(graph, code_root, strict)
    component = build_pipeline(graph, image)
    if pipeline_root:
        component.pipeline_spec.default_pipeline_root = pipeline_root
    path = Path(output)
    write_pipeline(component, path)
    return path


__all__ = ["compile_graph"]
