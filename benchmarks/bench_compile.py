"""Compile time of a 200-step pipeline: zenml-kf's compiler against kfp's alone.

zenml-kf: graph model -> checks -> kfp structures -> kfp compiler -> YAML.
kfp alone: the equivalent pipeline written in the kfp DSL by hand (200
`@dsl.container_component`s with the same inputs, outputs, args and settings, one
`@dsl.pipeline` function) compiled to YAML. Both write to a temporary file.

Usage: python benchmarks/bench_compile.py [--steps 200] [--repeat 7]
Prints the median of each, the ratio (target: under 1.5x) and the graph build time.
"""

import argparse
import importlib
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_zenml_module(folder: Path, steps: int) -> str:
    """A module with a chain of `steps` steps, each with one parameter and resources."""
    names = [f"s{i}" for i in range(steps)]
    body = ["    out = s0()"] + [f"    out = {name}(x=out)" for name in names[1:]]
    source = textwrap.dedent(
        """
        from zenml_kf import BaseStepConfig, pipeline, step


        class Cfg(BaseStepConfig):
            k: int = 1


        @step(settings={"cpu_limit": "1", "memory_limit": "1Gi"})
        def first(config: Cfg) -> int:
            return config.k


        @step(settings={"cpu_limit": "1", "memory_limit": "1Gi"})
        def inc(x: int, config: Cfg) -> int:
            return x + config.k


        @pipeline
        def big({args}):
        {body}


        p = big(s0=first(), {instances})
        """
    )
    source = (
        source.replace("{args}", ", ".join(names))
        .replace("{body}", "\n".join(body))
        .replace("{instances}", ", ".join(f"{name}=inc()" for name in names[1:]))
    )
    (folder / "bench_big.py").write_text(source)
    return "bench_big"


def kfp_alone(steps: int, image: str, spec_arg: str) -> Callable[[Path], None]:
    """The same pipeline in plain kfp DSL, components and pipeline built on every call."""

    def compile_once(output: Path) -> None:
        from kfp import compiler, dsl
        from kfp.dsl import Input, Output

        @dsl.container_component
        def first(k: int, output: Output[dsl.Artifact]) -> dsl.ContainerSpec:
            return dsl.ContainerSpec(
                image=image,
                command=["python", "-m", "zenml_kf.entrypoint"],
                args=[
                    "--step",
                    "s0",
                    "--spec",
                    spec_arg,
                    "--executor-input",
                    dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
                ],
            )

        components = [first]
        for i in range(1, steps):

            def make(i: int = i) -> Any:
                @dsl.container_component
                def inc(x: Input[dsl.Artifact], k: int, output: Output[dsl.Artifact]) -> dsl.ContainerSpec:
                    return dsl.ContainerSpec(
                        image=image,
                        command=["python", "-m", "zenml_kf.entrypoint"],
                        args=[
                            "--step",
                            f"s{i}",
                            "--spec",
                            spec_arg,
                            "--executor-input",
                            dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
                        ],
                    )

                inc.component_spec.name = f"s{i}"
                return inc

            components.append(make())
        params = ", ".join(f"s{i}__k: int = 1" for i in range(steps))
        namespace: dict[str, Any] = {"components": components}
        lines = [f"def big({params}):"]
        lines.append("    t = components[0](k=s0__k); t.set_cpu_limit('1'); t.set_memory_limit('1Gi')")
        for i in range(1, steps):
            lines.append(
                f"    t = components[{i}](x=t.outputs['output'], k=s{i}__k); "
                "t.set_cpu_limit('1'); t.set_memory_limit('1Gi')"
            )
        exec("\n".join(lines), namespace)
        pipeline = dsl.pipeline(name="big")(namespace["big"])
        compiler.Compiler().compile(pipeline, str(output))

    return compile_once


def median_time(fn: Callable[[Path], None], repeat: int, folder: Path) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(folder / f"out-{i}.yaml")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sys.path.insert(0, str(folder))
        module = importlib.import_module(write_zenml_module(folder, args.steps))
        start = time.perf_counter()
        graph = module.p.graph
        graph_seconds = time.perf_counter() - start

        from compiler import compile_graph

        image = "zenml-kf-steps:0123456789abcdef"
        ours = median_time(
            lambda out: compile_graph(graph, image, out, code_root=folder), args.repeat, folder
        )
        yaml_text = (folder / "out-0.yaml").read_text()
        spec_arg = yaml_text.split("- --spec\n        - '", 1)[1].split("'\n", 1)[0]
        theirs = median_time(kfp_alone(args.steps, image, spec_arg), args.repeat, folder)

    print(f"steps: {args.steps}, repeats: {args.repeat}")
    print(f"graph model built once:       {graph_seconds * 1000:8.1f} ms")
    print(f"zenml-kf compile (median):    {ours * 1000:8.1f} ms")
    print(f"kfp compiler alone (median):  {theirs * 1000:8.1f} ms")
    print(f"ratio zenml-kf / kfp:         {ours / theirs:8.2f}x  (target < 1.5x)")


if __name__ == "__main__":
    main()
