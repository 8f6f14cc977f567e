"""`@pipeline`: a function that wires step instances; calling it gives a runnable pipeline."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from zenml_kf.exceptions import ConfigFileError, PipelineInterfaceError
from zenml_kf.grammar import plural, with_article
from zenml_kf.names import check_name
from zenml_kf.pipelines.builder import PipelineBuilder, StepCall, building
from zenml_kf.source import source_of, type_name
from zenml_kf.steps.step import StepDefinition, StepInstance

# The graph, settings and run-config models and the materializer registry are imported
# where a graph is built: `from zenml_kf import pipeline` only defines pipelines, and those
# pydantic classes and regular expressions would cost more than all of the above.
if TYPE_CHECKING:
    from zenml_kf.orchestrators.schedule import Schedule
    from zenml_kf.pipelines.builder import OutputHandle
    from zenml_kf.pipelines.compilation import CompiledPipeline
    from zenml_kf.pipelines.config_file import RunConfig
    from zenml_kf.pipelines.graph import InputSpec, OutputSpec, PipelineGraph, StepSpec


class PipelineDefinition:
    """What `@pipeline` returns; call it with step instances to get a `Pipeline`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        enable_cache: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name = check_name(
            name if name is not None else fn.__name__, "pipeline name", PipelineInterfaceError
        )
        self.enable_cache = enable_cache
        self.settings: dict[str, Any] = dict(settings or {})
        self.source = source_of(fn)
        params = inspect.signature(fn).parameters.values()
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise PipelineInterfaceError(
                    f"pipeline '{self.name}' takes *{param.name}; name each step argument"
                )
            check_name(param.name, f"step argument of pipeline '{self.name}'", PipelineInterfaceError)
        self.step_args = [p.name for p in params]
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Pipeline:
        instances = self._bind(args, kwargs)
        builder = PipelineBuilder(self.name, instances)
        with building(builder):
            self.fn(**instances)
        calls: dict[str, StepCall] = {}
        for name, instance in instances.items():
            if name in builder.calls:
                continue
            if instance.definition.signature.inputs:
                raise PipelineInterfaceError(
                    f"step '{name}' is never called in the body of pipeline '{self.name}'; "
                    "call it with its inputs or remove the argument"
                )
            calls[name] = StepCall(name, instance, {})
        calls.update(builder.calls)
        return Pipeline(self, calls)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, StepInstance]:
        if len(args) > len(self.step_args):
            raise PipelineInterfaceError(
                f"pipeline '{self.name}' takes {plural(len(self.step_args), 'step')} but got {len(args)}"
            )
        bound = dict(zip(self.step_args, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.step_args:
                raise PipelineInterfaceError(
                    f"pipeline '{self.name}' has no step argument '{key}'; its arguments are: "
                    + ", ".join(self.step_args)
                )
            if key in bound:
                raise PipelineInterfaceError(
                    f"step argument '{key}' of pipeline '{self.name}' is given twice"
                )
            bound[key] = value
        seen: dict[int, str] = {}
        for key in self.step_args:
            if key not in bound:
                raise PipelineInterfaceError(
                    f"pipeline '{self.name}' is missing step '{key}'; pass {key}=some_step()"
                )
            value = bound[key]
            if isinstance(value, StepDefinition):
                raise PipelineInterfaceError(
                    f"argument '{key}' of pipeline '{self.name}' is the step '{value.name}' itself; "
                    f"pass an instance: {key}={value.name}()"
                )
            if not isinstance(value, StepInstance):
                raise PipelineInterfaceError(
                    f"argument '{key}' of pipeline '{self.name}' is {with_article(type(value).__name__)}, not a "
                    f"step instance; pass one, e.g. {key}=my_step()"
                )
            if id(value) in seen:
                raise PipelineInterfaceError(
                    f"the same step instance is passed as '{seen[id(value)]}' and '{key}' to pipeline "
                    f"'{self.name}'; create one instance per argument"
                )
            seen[id(value)] = key
        return bound

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


class Pipeline:
    """A pipeline with its steps wired, ready to run or compile."""

    def __init__(
        self,
        definition: PipelineDefinition,
        calls: dict[str, StepCall],
        run_config: RunConfig | None = None,
        default_settings: dict[str, Any] | None = None,
    ) -> None:
        self.definition = definition
        self.calls = calls
        # None until a config file or model is applied: a plain `p.run()` never needs one.
        self._run_config = run_config
        # Below the pipeline's own settings: what an orchestrator gives every step.
        self.default_settings: dict[str, Any] = dict(default_settings or {})

    def with_default_settings(self, settings: dict[str, Any]) -> Pipeline:
        """A copy whose steps get `settings` unless the pipeline, a step or a config file says otherwise."""
        from zenml_kf.pipelines.config_file import merge_settings

        return Pipeline(
            self.definition, self.calls, self._run_config, merge_settings(self.default_settings, settings)
        )

    @property
    def run_config(self) -> RunConfig:
        """The overrides applied with `with_config` (an empty run configuration when none were)."""
        from zenml_kf.pipelines.config_file import RunConfig

        return self._run_config if self._run_config is not None else RunConfig()

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def steps(self) -> dict[str, StepDefinition]:
        return {name: call.instance.definition for name, call in self.calls.items()}

    def with_config(self, config: str | Path | RunConfig) -> Pipeline:
        """A copy with the overrides of a run configuration file (or model) applied."""
        from zenml_kf.pipelines.config_file import RunConfig, load_run_config, merge_settings

        run_config = config if isinstance(config, RunConfig) else load_run_config(config)
        where = f"config file '{config}'" if not isinstance(config, RunConfig) else "run config"
        for step_name, overrides in run_config.steps.items():
            call = self.calls.get(step_name)
            if call is None:
                raise ConfigFileError(
                    f"{where} names step '{step_name}', which pipeline '{self.name}' does not have; "
                    f"its steps are: {', '.join(self.calls)}"
                )
            cls = call.instance.definition.signature.config_class
            fields = set(cls.model_fields) if cls is not None else set()
            for param in overrides.parameters:
                if param not in fields:
                    known = ", ".join(sorted(fields)) or "none"
                    raise ConfigFileError(
                        f"{where} sets parameter '{param}' of step '{step_name}', which has no such "
                        f"parameter; its parameters are: {known}"
                    )
        merged = RunConfig(
            enable_cache=run_config.enable_cache
            if run_config.enable_cache is not None
            else self.run_config.enable_cache,
            settings=merge_settings(self.run_config.settings, run_config.settings),
            steps={**self.run_config.steps, **run_config.steps},
        )
        return Pipeline(self.definition, self.calls, merged, self.default_settings)

    @functools.cached_property
    def graph(self) -> PipelineGraph:
        """The serializable graph; parameters are validated here, once configs are final."""
        from zenml_kf.materializers.registry import materializer_requirements
        from zenml_kf.pipelines.config_file import merge_settings
        from zenml_kf.pipelines.graph import PipelineGraph
        from zenml_kf.pipelines.settings import parse_settings

        run_config = self._run_config
        configured_cache = run_config.enable_cache if run_config is not None else None
        pipeline_cache = configured_cache if configured_cache is not None else self.definition.enable_cache
        pipeline_settings = merge_settings(
            merge_settings(self.default_settings, self.definition.settings),
            run_config.settings if run_config is not None else {},
        )
        parse_settings(pipeline_settings, f"pipeline '{self.name}'")
        specs = [self._step_spec(call, pipeline_cache, pipeline_settings) for call in self.calls.values()]
        return PipelineGraph(
            name=self.name,
            description=inspect.getdoc(self.definition.fn),
            source=self.definition.source,
            enable_cache=pipeline_cache,
            settings=pipeline_settings,
            steps=specs,
            requirements=materializer_requirements(out for spec in specs for out in spec.outputs),
        )

    def _step_spec(self, call: StepCall, pipeline_cache: bool, pipeline_settings: dict[str, Any]) -> StepSpec:
        from zenml_kf.pipelines.config_file import merge_settings
        from zenml_kf.pipelines.graph import StepSpec
        from zenml_kf.pipelines.settings import parse_settings
        from zenml_kf.steps.config import parameter_json_types

        definition = call.instance.definition
        signature = definition.signature
        overrides = self._run_config.steps.get(call.name) if self._run_config is not None else None
        step_cache = overrides.enable_cache if overrides and overrides.enable_cache is not None else None
        if step_cache is None:
            step_cache = definition.enable_cache if definition.enable_cache is not None else True
        parameters = self._parameters(call, overrides.parameters if overrides else {})
        settings = merge_settings(
            merge_settings(pipeline_settings, definition.settings),
            overrides.settings if overrides else {},
        )
        config_class = signature.config_class
        return StepSpec(
            name=call.name,
            step_name=definition.name,
            source=definition.source,
            code_hash=definition.code_hash,
            description=inspect.getdoc(definition.fn),
            config_source=source_of(config_class) if config_class else None,
            parameters=parameters,
            parameter_types=parameter_json_types(config_class, parameters) if config_class else {},
            inputs=[self._input_spec(call, key, handle) for key, handle in call.inputs.items()],
            outputs=[self._output_spec(call, out, ann) for out, ann in signature.outputs.items()],
            enable_cache=pipeline_cache and step_cache,
            settings=parse_settings(settings, f"step '{call.name}'"),
        )

    def _parameters(self, call: StepCall, overrides: dict[str, Any]) -> dict[str, Any]:
        from pydantic import ValidationError

        from zenml_kf.validation import describe

        cls = call.instance.definition.signature.config_class
        if cls is None:
            return {}
        base = call.instance.config.model_dump(mode="json") if call.instance.config else {}
        try:
            config = cls.model_validate({**base, **overrides})
        except ValidationError as exc:
            raise PipelineInterfaceError(
                f"parameters of step '{call.name}' are invalid ({describe(exc)}); set them with "
                f"{cls.__name__}(...) or in a config file"
            ) from None
        dumped: dict[str, Any] = config.model_dump(mode="json")
        return dumped

    def _input_spec(self, call: StepCall, key: str, handle: OutputHandle) -> InputSpec:
        from zenml_kf.pipelines.graph import InputSpec

        expected = call.instance.definition.signature.inputs[key]
        return InputSpec(name=key, data_type=type_name(expected), step=handle.step, output=handle.output)

    def _output_spec(self, call: StepCall, name: str, annotation: Any) -> OutputSpec:
        from zenml_kf.materializers.registry import default_registry, load_materializer
        from zenml_kf.pipelines.graph import OutputSpec
        from zenml_kf.steps.type_check import METRICS_ARTIFACT, concrete_type, is_metrics

        override = call.instance.output_materializers.get(name)
        concrete = concrete_type(annotation)
        if override is not None:
            materializer: str | None = source_of(override)
        elif concrete is not None:
            # An unregistered annotation (often an abstract base such as ClassifierMixin)
            # leaves the choice to the returned value's type at run time.
            materializer = default_registry().lookup(concrete)
        else:
            materializer = None
        artifact_type = load_materializer(materializer).ARTIFACT_TYPE if materializer else "system.Artifact"
        if override is None and is_metrics(annotation):
            artifact_type = METRICS_ARTIFACT
        return OutputSpec(
            name=name,
            data_type=type_name(annotation),
            materializer=materializer,
            artifact_type=artifact_type,
            unregistered_type=materializer is None and concrete not in (None, object),
        )

    def run(
        self,
        stack: str | None = None,
        image: str | None = None,
        build: bool | None = None,
        wait: bool | None = None,
        schedule: Schedule | None = None,
    ) -> Any:
        """Run on the active stack (or the named one).

        On a local stack: the finished run (`StepFailedError` when a step fails; the run is
        recorded as failed). On a kubeflow stack: a handle to the submitted KFP run
        (`run_id`, `url`, `wait()`), or to the recurring run when `schedule` is given;
        `image` names a ready step image, else one is built and pushed.
        """
        from zenml_kf.repository import Repository

        repository = Repository()
        resolved = repository.get_stack(stack)
        options = {"image": image, "build": build, "wait": wait, "schedule": schedule}
        given = {k: v for k, v in options.items() if v is not None}
        return resolved.run(self, repository, **given)

    def compile(
        self,
        path: str | Path = "pipeline.yaml",
        image: str | None = None,
        build: bool = False,
        push: bool = False,
        stack: str | None = None,
    ) -> CompiledPipeline:
        """Write this pipeline's KFP YAML (what a kubeflow stack would submit) to `path`.

        On a kubeflow stack the YAML uses its image registry, pipeline root and default step
        settings; elsewhere the plain content-tagged image and no pipeline root.
        """
        from zenml_kf.pipelines.compilation import ImageChoice, compile_for, stack_for

        return compile_for(stack_for(stack), self, path, ImageChoice(image=image, build=build, push=push))

    def __repr__(self) -> str:
        return f"<pipeline {self.name} with steps {', '.join(self.calls)}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> PipelineDefinition: ...


@overload
def pipeline(
    *, name: str | None = None, enable_cache: bool = True, settings: dict[str, Any] | None = None
) -> Callable[[Callable[..., Any]], PipelineDefinition]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    enable_cache: bool = True,
    settings: dict[str, Any] | None = None,
) -> PipelineDefinition | Callable[[Callable[..., Any]], PipelineDefinition]:
    """Turn a function that wires steps into a pipeline: `@pipeline` or `@pipeline(name=...)`.

    Its arguments are step instances; its body calls them with each other's outputs.
    """

    def decorate(func: Callable[..., Any]) -> PipelineDefinition:
        return PipelineDefinition(func, name, enable_cache, settings)

    return decorate(fn) if fn is not None else decorate
