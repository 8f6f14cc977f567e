"""The container side of the KFP contract: `python -m zenml_kf.entrypoint`.

A compiled step runs as::

    python -m zenml_kf.entrypoint --step NAME --spec SPEC_JSON --executor-input '{{$}}'

KFP replaces `{{$}}` with the ExecutorInput JSON: parameter values, input artifacts (URI
and metadata), output artifact URIs and `outputs.outputFile`. Bucket URIs are read and
written through the launcher's mounts (`gs://b/k` is `/gcs/b/k`, `s3://` is `/s3/`,
`minio://` is `/minio/`); kfp.local passes plain local paths. The step runs through
the same runner as the local orchestrator, and the ExecutorOutput written to
`outputFile` lists every output artifact with its metadata (data type, materializer,
small values): KFP drops outputs that are not listed there.

Exit codes: 0 done, 1 the step or its input failed (traceback or one-line error in the
pod log), 2 the command line itself is wrong. Only the standard library is imported
before the arguments are parsed, so a broken image fails fast with a clear message.

Start-up time is paid by every pod, so the step spec is read into plain dataclasses
(`PodStep`) rather than the graph's pydantic models, whose schemas take longer to build
than many steps take to run; the pod loads no YAML, kfp, ml_metadata or stack code.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zenml_kf.steps.runner import InputArtifact, WrittenOutput

URI_MOUNTS = {"gs://": "/gcs/", "s3://": "/s3/", "minio://": "/minio/"}


def local_path(uri: str) -> Path:
    """Where the KFP launcher makes an artifact URI available inside the pod."""
    for scheme, mount in URI_MOUNTS.items():
        if uri.startswith(scheme):
            return Path(mount + uri[len(scheme) :])
    if "://" in uri:
        from zenml_kf.exceptions import ZenMLKFError

        raise ZenMLKFError(
            f"artifact URI '{uri}' has a scheme KFP does not mount in pods; use a gs://, s3:// "
            "or minio:// pipeline root"
        )
    return Path(uri)


@dataclass(frozen=True)
class PodOutput:
    name: str
    data_type: str
    materializer: str | None
    artifact_type: str


@dataclass(frozen=True)
class PodInput:
    name: str
    data_type: str


@dataclass(frozen=True)
class PodStep:
    """The part of the graph's `StepSpec` a pod needs to run the step (the runner's `RunnableStep`)."""

    name: str
    source: str
    parameters: dict[str, Any]
    inputs: tuple[PodInput, ...]
    outputs: tuple[PodOutput, ...]


def pod_step(body: Any) -> PodStep:
    """Read the compiler's step spec (`StepSpec.model_dump(mode="json")`) without pydantic.

    Fields a pod does not use (code hash, cache flag, parameter types) are not read, so an
    image keeps running specs that grew a field; a missing or mistyped field the pod needs
    raises ValueError naming it.
    """
    if not isinstance(body, dict):
        raise ValueError("the step spec is not a JSON object")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ValueError("'parameters' is not an object")
    return PodStep(
        name=_text(body, "name"),
        source=_text(body, "source"),
        parameters=parameters,
        inputs=tuple(
            PodInput(name=_text(edge, "name"), data_type=_text(edge, "data_type"))
            for edge in _objects(body, "inputs")
        ),
        outputs=tuple(
            PodOutput(
                name=_text(out, "name"),
                data_type=_text(out, "data_type"),
                materializer=_optional_text(out, "materializer"),
                artifact_type=_text(out, "artifact_type", default="system.Artifact"),
            )
            for out in _objects(body, "outputs")
        ),
    )


def _objects(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"'{key}' is not a list of objects")
    return items


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"'{key}' is {'missing' if value is None else 'not a string'}")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _text(body, key)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    step, spec_text, executor_text = args.step, args.spec, args.executor_input
    from zenml_kf.exceptions import ZenMLKFError
    from zenml_kf.steps.runner import StepCodeError

    try:
        payload, executor_input = json.loads(spec_text), json.loads(executor_text)
    except ValueError as exc:
        print(
            f"Error: --spec or --executor-input is not JSON ({exc}); recompile the pipeline", file=sys.stderr
        )
        return 2
    try:
        run(step, payload, executor_input)
    except StepCodeError as exc:
        print(exc.formatted.rstrip(), file=sys.stderr)
        print(f"Error: step '{exc.step}' raised {exc}", file=sys.stderr)
        return 1
    except ZenMLKFError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


def run(step: str, payload: dict[str, Any], executor_input: dict[str, Any]) -> dict[str, Any]:
    """Run one step as KFP asks and write the ExecutorOutput; returns it too."""
    from zenml_kf.artifact_stores.manifest import write_marker
    from zenml_kf.exceptions import ZenMLKFError
    from zenml_kf.steps.runner import run_step

    try:
        spec = pod_step(payload.get("spec") if isinstance(payload, dict) else None)
    except ValueError as exc:
        raise ZenMLKFError(
            f"--spec holds no valid step spec ({exc}); recompile the pipeline with the zenml-kf "
            "version installed in the image"
        ) from exc
    if spec.name != step:
        raise ZenMLKFError(f"--step '{step}' does not match the step spec '{spec.name}'; recompile")
    spec = replace(spec, parameters=_parameters(spec, executor_input))
    definition = _load_step(spec)
    if "logging" in sys.modules:
        # Show the SDK's log lines in the pod log. When neither the step's module nor its
        # libraries loaded logging, it is not loaded for this: nothing the pod runs logs below
        # WARNING, and Python's last-resort handler prints warnings as the same bare line.
        from zenml_kf.log import ensure_console_handler

        ensure_console_handler()
    inputs = _inputs(spec, payload.get("inputs", {}), executor_input)
    outputs = _output_artifacts(executor_input)
    output_dirs: dict[str, Path] = {}
    for out in spec.outputs:
        if out.name not in outputs:
            raise ZenMLKFError(f"the executor input has no artifact for output '{out.name}'; recompile")
        path = local_path(outputs[out.name]["uri"])
        path.mkdir(parents=True, exist_ok=True)
        output_dirs[out.name] = path
    written = run_step(definition, spec, inputs, output_dirs)
    for out_name, folder in output_dirs.items():
        # The launcher uploads the folder; the marker tells bucket readers it is whole.
        write_marker(folder, outputs[out_name]["uri"])
    result = executor_output(written, outputs)
    output_file = Path(executor_input["outputs"]["outputFile"])
    output_file.parent.mkdir(parents=True, exist_ok=True)
    # The launcher reads this with Go's strict protojson (no NaN or Infinity literals), and
    # only after the process exited with 0, so a direct write cannot be read half-done.
    output_file.write_text(json.dumps(result, allow_nan=False, separators=(",", ":")))
    return result


def executor_output(written: list[WrittenOutput], outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ExecutorOutput JSON: every output artifact with metadata the launcher can record.

    A `system.Metrics` artifact carries only its numbers (and `display_name`), as the KFP
    UI lists every metadata entry of one as a metric; its materializer is fixed by its
    type and known to consumers from the compiled spec.
    """
    artifacts: dict[str, Any] = {}
    for out in written:
        given = outputs[out.name]
        metadata: dict[str, Any] = {"display_name": out.name}
        if out.metrics:
            metadata.update(out.metrics)
        else:
            metadata.update(
                data_type=out.data_type, materializer=out.materializer, artifact_type=out.artifact_type
            )
            for key, value in out.metadata.items():
                metadata.setdefault(key, value)
        artifacts[out.name] = {
            "artifacts": [
                {
                    "name": given.get("name", out.name),
                    "uri": given["uri"],
                    "metadata": launcher_safe(metadata),
                }
            ]
        }
    return {"artifacts": artifacts}


def launcher_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata the KFP launcher can parse and record.

    It parses strict JSON (NaN and infinities become the strings "NaN", "Infinity",
    "-Infinity") and cannot record a null value (None entries are left out): see
    `getExecutorOutputFile` in backend/src/v2/component/launcher_v2.go and
    `StructValueToMLMDValue` in backend/src/v2/metadata/converter.go (KFP 2.5.0).
    """
    from zenml_kf.metadata.values import non_finite_as_text

    return {
        str(key): _plain(non_finite_as_text(value)) for key, value in metadata.items() if value is not None
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _parameters(spec: PodStep, executor_input: dict[str, Any]) -> dict[str, Any]:
    """Compile-time values overridden by what KFP passes; the runner validates them once."""
    given = executor_input.get("inputs", {}).get("parameterValues", {}) or {}
    merged = dict(spec.parameters)
    merged.update({name: value for name, value in given.items() if name in spec.parameters})
    return merged


def _load_step(spec: PodStep) -> Any:
    from zenml_kf.exceptions import ZenMLKFError
    from zenml_kf.grammar import with_article
    from zenml_kf.source import load_source
    from zenml_kf.steps.step import StepDefinition

    definition = load_source(spec.source)
    if not isinstance(definition, StepDefinition):
        raise ZenMLKFError(
            f"'{spec.source}' in the image is {with_article(type(definition).__name__)}, not a step; rebuild "
            "the image from the code the pipeline was compiled from"
        )
    return definition


def _inputs(
    spec: PodStep, producers: dict[str, dict[str, Any]], executor_input: dict[str, Any]
) -> dict[str, InputArtifact]:
    from zenml_kf.exceptions import ZenMLKFError
    from zenml_kf.source import resolve_type
    from zenml_kf.steps.runner import InputArtifact

    given = executor_input.get("inputs", {}).get("artifacts", {}) or {}
    inputs: dict[str, InputArtifact] = {}
    for edge in spec.inputs:
        entries = given.get(edge.name, {}).get("artifacts") or []
        if not entries:
            raise ZenMLKFError(f"the executor input has no artifact for input '{edge.name}'; recompile")
        artifact = entries[0]
        metadata = artifact.get("metadata") or {}
        declared = producers.get(edge.name, {})
        materializer = metadata.get("materializer") or declared.get("materializer")
        data_type = metadata.get("data_type") or declared.get("data_type") or edge.data_type
        if not materializer:
            raise ZenMLKFError(
                f"input '{edge.name}' of step '{spec.name}' names no materializer; it was not "
                "written by a zenml-kf step"
            )
        inputs[edge.name] = InputArtifact(
            path=local_path(artifact["uri"]),
            materializer=str(materializer),
            data_type=resolve_type(str(data_type)),
        )
    return inputs


def _output_artifacts(executor_input: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, entry in (executor_input.get("outputs", {}).get("artifacts", {}) or {}).items():
        artifacts = entry.get("artifacts") or []
        if artifacts:
            found[name] = artifacts[0]
    return found


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m zenml_kf.entrypoint", description="Run one zenml-kf step inside a KFP pod."
    )
    parser.add_argument("--step", required=True, help="name of the step in the pipeline")
    parser.add_argument("--spec", required=True, help="the step spec JSON written by the compiler")
    parser.add_argument("--executor-input", required=True, help="KFP's ExecutorInput JSON ({{$}})")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
