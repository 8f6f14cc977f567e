"""`@step`: a typed function becomes a step definition; calling that gives a step instance."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from zenml_kf.exceptions import StepInterfaceError
from zenml_kf.names import check_name
from zenml_kf.source import source_of
from zenml_kf.steps.config import BaseStepConfig
from zenml_kf.steps.signature import StepSignature, parse_signature

if TYPE_CHECKING:
    from zenml_kf.materializers.base import BaseMaterializer
    from zenml_kf.pipelines.builder import OutputHandle


class StepDefinition:
    """What `@step` returns: the function, its parsed interface and its step-level options.

    Calling it (optionally with `config=...`) makes a `StepInstance` to pass to a pipeline;
    the function itself stays reachable as `.fn` for unit tests.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        enable_cache: bool | None = None,
        output_materializers: Mapping[str, type[BaseMaterializer]] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.settings: dict[str, Any] = dict(settings or {})
        self.name = check_name(name if name is not None else fn.__name__, "step name", StepInterfaceError)
        self.enable_cache = enable_cache
        self.signature: StepSignature = parse_signature(fn, self.name)
        self.output_materializers = dict(output_materializers or {})
        _check_materializer_names(self.output_materializers, self.signature, self.name)
        self.source = source_of(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @functools.cached_property
    def code_hash(self) -> str:
        """What of the step's code decides its outputs, hashed: one input to the cache key.

        The function's and config class's source, the step's name, and the values of the
        closure variables and module constants the function reads: steps made by a
        factory share their source but not those values.
        """
        import hashlib  # loads OpenSSL: paid when a graph is built, not at `import zenml_kf`

        digest = hashlib.sha256(self.name.encode())
        for obj in (self.fn, self.signature.config_class):
            if obj is None:
                continue
            try:
                digest.update(inspect.getsource(obj).encode())
            except (OSError, TypeError):
                digest.update(repr(getattr(obj, "__code__", obj)).encode())
        digest.update(_referenced_values(self.fn).encode())
        return digest.hexdigest()

    def __call__(self, config: BaseStepConfig | None = None) -> StepInstance:
        cls = self.signature.config_class
        if config is not None:
            if cls is None:
                raise StepInterfaceError(
                    f"step '{self.name}' takes no config; call it without one: {self.name}()"
                )
            if not isinstance(config, cls):
                raise StepInterfaceError(
                    f"step '{self.name}' expects config of type {cls.__name__}, got "
                    f"{type(config).__name__}; pass {cls.__name__}(...)"
                )
        return StepInstance(self, config)

    def __repr__(self) -> str:
        return f"<step {self.name}>"


class StepInstance:
    """One use of a step in a pipeline, with its explicit config and materializer overrides."""

    def __init__(self, definition: StepDefinition, config: BaseStepConfig | None) -> None:
        self.definition = definition
        self.config = config
        self.output_materializers = dict(definition.output_materializers)

    def with_materializers(self, **materializers: type[BaseMaterializer]) -> StepInstance:
        """Choose the materializer of named outputs for this instance only."""
        _check_materializer_names(materializers, self.definition.signature, self.definition.name)
        self.output_materializers.update(materializers)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from zenml_kf.pipelines.builder import record_step_call

        result: OutputHandle | tuple[OutputHandle, ...] | None = record_step_call(self, args, kwargs)
        return result

    def __repr__(self) -> str:
        return f"<step instance of {self.definition.name}>"


_PLAIN = (int, float, str, bytes, bool, type(None))


def _referenced_values(fn: Callable[..., Any]) -> str:
    """Plain values (numbers, strings and tuples of them) a function reads from its closure
    or its module, and the source of plain functions it calls, in a stable text form.

    Anything else (modules, classes, large objects) is left out: it is either covered by
    the step's own source or too costly to fingerprint on every run.
    """
    try:
        found = inspect.getclosurevars(fn)
    except (TypeError, ValueError):
        return ""
    parts = []
    for scope, names in (("nonlocal", found.nonlocals), ("global", found.globals)):
        for name in sorted(names):
            value = names[name]
            if _is_plain(value):
                parts.append(f"{scope}:{name}={value!r}")
            elif inspect.isfunction(value) and not isinstance(value, StepDefinition):
                try:
                    parts.append(f"{scope}:{name}:{inspect.getsource(value)}")
                except (OSError, TypeError):
                    continue
    return "\n".join(parts)


def _is_plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    return isinstance(value, tuple) and len(value) <= 64 and all(_is_plain(v) for v in value)


def _check_materializer_names(
    materializers: Mapping[str, Any], signature: StepSignature, step_name: str
) -> None:
    for name in materializers:
        if name not in signature.outputs:
            known = ", ".join(signature.outputs) or "none"
            raise StepInterfaceError(
                f"step '{step_name}' has no output '{name}' to set a materializer for; its outputs: {known}"
            )


@overload
def step(fn: Callable[..., Any], /) -> StepDefinition: ...


@overload
def step(
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    output_materializers: Mapping[str, type[BaseMaterializer]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], StepDefinition]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    output_materializers: Mapping[str, type[BaseMaterializer]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> StepDefinition | Callable[[Callable[..., Any]], StepDefinition]:
    """Turn a typed function into a step: `@step` or `@step(name=..., enable_cache=...)`.

    Annotated arguments are input artifacts, one argument annotated with a
    `BaseStepConfig` subclass carries the parameters, and the return annotation names
    the outputs (`-> int` is output `output`; `-> Output(a=int, b=str)` is two outputs).
    `settings` holds how the step runs on a cluster (resources, Kubernetes options); the
    local orchestrator ignores them.
    """

    def decorate(func: Callable[..., Any]) -> StepDefinition:
        return StepDefinition(func, name, enable_cache, output_materializers, settings)

    return decorate(fn) if fn is not None else decorate
