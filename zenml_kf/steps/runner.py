"""The step runner: one way to execute a step, shared by every orchestrator.

It receives local folders for input artifacts and empty folders for outputs, so it
runs the same in-process, in a worker, or in a KFP pod where the launcher maps bucket
URIs to local paths. It loads inputs with the materializer that wrote them, calls the
function, checks each output against its annotation and writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from zenml_kf.exceptions import MaterializerError, StepInterfaceError, ZenMLKFError
from zenml_kf.grammar import with_article
from zenml_kf.materializers.registry import (
    MaterializerRegistry,
    default_registry,
    load_materializer,
)
from zenml_kf.source import type_name
from zenml_kf.steps.step import StepDefinition
from zenml_kf.steps.type_check import METRICS_ARTIFACT, value_matches
from zenml_kf.validation import describe


class RunnableOutput(Protocol):
    """What the runner reads of an output: the graph's `OutputSpec`, or the pod's lighter view."""

    @property
    def name(self) -> str: ...
    @property
    def data_type(self) -> str: ...
    @property
    def materializer(self) -> str | None: ...
    @property
    def artifact_type(self) -> str: ...


class RunnableStep(Protocol):
    """What the runner reads of a step spec.

    A structural type, so a KFP pod can run a step from its spec without building the
    graph's pydantic models (their schemas cost more than many steps take to run).
    """

    @property
    def name(self) -> str: ...
    @property
    def parameters(self) -> Mapping[str, Any]: ...
    @property
    def outputs(self) -> Sequence[RunnableOutput]: ...


@dataclass(frozen=True)
class InputArtifact:
    path: Path
    materializer: str
    data_type: type


@dataclass(frozen=True)
class WrittenOutput:
    name: str
    materializer: str
    data_type: str
    artifact_type: str
    metadata: dict[str, Any]
    # For a `system.Metrics` output: each number by its name (the output's name for a
    # scalar, the key for a dict), which the KFP UI lists and compares across runs.
    metrics: dict[str, float] = field(default_factory=dict)


class StepCodeError(Exception):
    """The user's function raised; carries its traceback without the runner's frames."""

    def __init__(self, step: str, error: BaseException, formatted: str) -> None:
        detail = f"exit code {error.code}" if isinstance(error, SystemExit) else str(error)
        super().__init__(f"{type(error).__name__}: {detail}")
        self.step = step
        self.error = error
        self.formatted = formatted


def run_step(
    definition: StepDefinition,
    spec: RunnableStep,
    inputs: dict[str, InputArtifact],
    output_dirs: dict[str, Path],
    registry: MaterializerRegistry | None = None,
) -> list[WrittenOutput]:
    kwargs: dict[str, Any] = {}
    signature = definition.signature
    if signature.config_arg is not None and signature.config_class is not None:
        try:
            # The one place parameter values become the config object; where they entered
            # (the pipeline, a config file) they were checked against the same class.
            kwargs[signature.config_arg] = signature.config_class.model_validate(spec.parameters)
        except ValidationError as exc:
            raise StepInterfaceError(
                f"parameters of step '{spec.name}' are invalid ({describe(exc)}); fix them in the "
                "step's config, the config file or the values the run was submitted with"
            ) from None
    for name, artifact in inputs.items():
        materializer = load_materializer(artifact.materializer)
        try:
            kwargs[name] = materializer.load(artifact.path, artifact.data_type)
        except ZenMLKFError:
            raise
        except Exception as exc:
            raise MaterializerError(
                f"input '{name}' of step '{spec.name}' could not be loaded by "
                f"{type(materializer).__name__} from {artifact.path} ({type(exc).__name__}: {exc}); "
                "the artifact is damaged or was written by an incompatible materializer"
            ) from None
    try:
        returned = definition.fn(**kwargs)
    except (Exception, SystemExit) as exc:  # sys.exit() in a step is a failing step, not an exit
        import traceback  # only a failing step pays for it

        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        formatted = "".join(traceback.format_exception(type(exc), exc, tb))
        raise StepCodeError(spec.name, exc, formatted) from None
    finally:
        kwargs.clear()  # inputs may be large; let them go before outputs are written
    values = _split_outputs(spec, returned)
    del returned
    written = []
    reg = registry or default_registry()
    for out in spec.outputs:
        value = values.pop(out.name)
        annotation = signature.outputs[out.name]
        if not value_matches(value, annotation):
            raise StepInterfaceError(
                f"output '{out.name}' of step '{spec.name}' is {with_article(type(value).__name__)} but is "
                f"annotated {out.data_type}; return {with_article(out.data_type)} or change the annotation"
            )
        materializer_source = out.materializer or reg.resolve(
            type(value), f"output '{out.name}' of step '{spec.name}'"
        )
        materializer = load_materializer(materializer_source)
        try:
            materializer.save(value, output_dirs[out.name])
            metadata = materializer.extract_metadata(value)
        except ZenMLKFError:
            raise
        except OSError as exc:  # the disk or the folder, not the materializer
            raise MaterializerError(
                f"output '{out.name}' of step '{spec.name}' could not be written to "
                f"{exc.filename or output_dirs[out.name]} ({exc.strerror or exc}); free space or "
                "fix the artifact store's folder"
            ) from None
        except Exception as exc:
            raise StepInterfaceError(
                f"output '{out.name}' of step '{spec.name}' could not be written by "
                f"{type(materializer).__name__} ({type(exc).__name__}: {exc}); pass a fitting "
                "materializer with output_materializers="
            ) from None
        artifact_type = out.artifact_type if out.materializer else materializer.ARTIFACT_TYPE
        written.append(
            WrittenOutput(
                name=out.name,
                materializer=materializer_source,
                data_type=type_name(type(value)),
                artifact_type=artifact_type,
                metadata=metadata,
                metrics=_metrics(out.name, value) if artifact_type == METRICS_ARTIFACT else {},
            )
        )
        del value
    return written


def _metrics(name: str, value: Any) -> dict[str, float]:
    items = value.items() if isinstance(value, dict) else [(name, value)]
    return {
        str(key): float(number)
        for key, number in items
        if isinstance(number, int | float) and not isinstance(number, bool)
    }


def _split_outputs(spec: RunnableStep, returned: Any) -> dict[str, Any]:
    names = [out.name for out in spec.outputs]
    if not names:
        if returned is not None:
            raise StepInterfaceError(
                f"step '{spec.name}' returned {with_article(type(returned).__name__)} but declares no output; "
                "annotate its return type"
            )
        return {}
    if len(names) == 1:
        return {names[0]: returned}
    if not isinstance(returned, tuple | list) or len(returned) != len(names):
        raise StepInterfaceError(
            f"step '{spec.name}' must return a tuple of {len(names)} values ({', '.join(names)}), "
            f"got {type(returned).__name__}"
        )
    return dict(zip(names, returned, strict=True))
