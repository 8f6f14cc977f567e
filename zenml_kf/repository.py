"""The `.zen/` repository: stack registry (readable YAML) and the default local stores.

    .zen/
      config.yaml      # components, stacks and the active stack; commit it
      .gitignore       # keeps local_stores/ out of git
      local_stores/    # the default artifact folder and sqlite MLMD file, and
                       # config.yaml.json: the registry as last parsed (see yaml_cache)

Every change to `config.yaml` is validated first and written atomically, so a failed
command never leaves a half-written registry.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zenml_kf.exceptions import NothingRecordedError, RepositoryError, StackError
from zenml_kf.git_state import git_toplevel
from zenml_kf.names import check_name
from zenml_kf.stack.flavors import FlavorRegistry
from zenml_kf.stack.types import ComponentType
from zenml_kf.validation import describe
from zenml_kf.yaml_cache import InvalidYAML, load_yaml, remember

if TYPE_CHECKING:
    from zenml_kf.metadata.deletion import DeletedRun
    from zenml_kf.metadata.views import MetadataReader, PipelineRunView, PipelineView
    from zenml_kf.stack.chart_values import StackDoc
    from zenml_kf.stack.component import StackComponent
    from zenml_kf.stack.stack import Stack

ZEN_DIR = ".zen"
CONFIG_FILE = "config.yaml"
LOCK_FILE = ".config.lock"
CONFIG_VERSION = 1
LOCAL_STORES = "local_stores"
# The registry as parsed, beside the stores: derived data that stays out of git.
PARSED_CONFIG = "config.yaml.json"
DEFAULT = "default"
STACK_ENV = "ZENML_KF_STACK"


class ComponentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flavor: str
    config: dict[str, Any] = {}


class StackEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    orchestrator: str
    artifact_store: str
    metadata_store: str

    def component(self, type_: ComponentType) -> str:
        name: str = getattr(self, type_.value)
        return name


class RepositoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = CONFIG_VERSION
    active_stack: str
    orchestrators: dict[str, ComponentEntry] = Field(default_factory=dict)
    artifact_stores: dict[str, ComponentEntry] = Field(default_factory=dict)
    metadata_stores: dict[str, ComponentEntry] = Field(default_factory=dict)
    stacks: dict[str, StackEntry] = Field(default_factory=dict)

    def components(self, type_: ComponentType) -> dict[str, ComponentEntry]:
        group: dict[str, ComponentEntry] = getattr(self, f"{type_.value}s")
        return group

    @classmethod
    def default(cls) -> RepositoryConfig:
        return cls(
            active_stack=DEFAULT,
            orchestrators={DEFAULT: ComponentEntry(flavor="local")},
            artifact_stores={DEFAULT: ComponentEntry(flavor="local")},
            metadata_stores={DEFAULT: ComponentEntry(flavor="sqlite")},
            stacks={
                DEFAULT: StackEntry(orchestrator=DEFAULT, artifact_store=DEFAULT, metadata_store=DEFAULT)
            },
        )


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[Repository, P], R]) -> Callable[Concatenate[Repository, P], R]:
    """Run a change of the registry under its lock, on a fresh read of it."""

    def wrapper(self: Repository, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._editing():
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


class Repository:
    """A zenml repository found from `path` (default: the current directory) upwards."""

    def __init__(self, path: str | Path | None = None, flavors: FlavorRegistry | None = None) -> None:
        start = Path(path or os.getcwd()).resolve()
        root = find_root(start)
        if root is None:
            raise RepositoryError(
                f"{start} is not inside a zenml repository (no {ZEN_DIR}/ here or above); "
                "run 'zenml init' at the root of your git repository"
            )
        self.root = root
        self.flavors = flavors or FlavorRegistry()
        self._config: RepositoryConfig | None = None
        self._editing_depth = 0

    @classmethod
    def init(cls, path: str | Path | None = None) -> Repository:
        """Create `.zen/` with the default local stack at the root of a git repository."""
        target = Path(path or os.getcwd()).resolve()
        top = git_toplevel(target)
        if top is None:
            raise RepositoryError(
                f"{target} is not in a git repository; run 'git init' first, then 'zenml init' at its root"
            )
        if top != target:
            raise RepositoryError(
                f"{target} is inside the git repository at {top}; run 'zenml init' at its root: cd {top}"
            )
        zen = target / ZEN_DIR
        if (zen / CONFIG_FILE).exists():
            raise RepositoryError(f"{target} is already a zenml repository ({zen / CONFIG_FILE} exists)")
        try:
            (zen / LOCAL_STORES).mkdir(parents=True, exist_ok=True)
            (zen / ".gitignore").write_text(f"{LOCAL_STORES}/\n{LOCK_FILE}\n")
            _write_config(zen / CONFIG_FILE, RepositoryConfig.default())
        except OSError as exc:
            raise RepositoryError(
                f"cannot create {zen}: {exc.strerror}; run 'zenml init' where you may write"
            ) from None
        return cls(target)

    # --- registry -----------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / ZEN_DIR / CONFIG_FILE

    @property
    def config(self) -> RepositoryConfig:
        if self._config is None:
            self._config = _read_config(self.config_path)
        return self._config

    def _save(self, config: RepositoryConfig) -> None:
        try:
            _write_config(self.config_path, config)
        except OSError as exc:
            raise RepositoryError(
                f"cannot write {self.config_path}: {exc.strerror}; check that .zen/ is writable"
            ) from None
        self._config = config

    @contextmanager
    def _editing(self) -> Iterator[None]:
        """Hold the registry's lock and read it afresh, so commands that change it at the
        same time (several `register`s in parallel) each build on the others' changes."""
        if self._editing_depth:
            self._editing_depth += 1
            try:
                yield
            finally:
                self._editing_depth -= 1
            return
        import fcntl

        lock = self.root / ZEN_DIR / LOCK_FILE
        try:
            handle = open(lock, "a")  # noqa: SIM115 (held across the yield)
        except OSError as exc:
            raise RepositoryError(
                f"cannot lock {lock}: {exc.strerror}; check that .zen/ is writable"
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._editing_depth = 1
            try:
                self._config = _read_config(self.config_path)
                yield
            finally:
                self._editing_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def active_stack_name(self) -> str:
        return os.environ.get(STACK_ENV) or self.config.active_stack

    def _stack_entry(self, name: str) -> StackEntry:
        entry = self.config.stacks.get(name)
        if entry is None:
            known = ", ".join(sorted(self.config.stacks)) or "none"
            source = f" (set by {STACK_ENV})" if os.environ.get(STACK_ENV) == name else ""
            raise StackError(
                f"unknown stack '{name}'{source}; registered stacks: {known} "
                "('zenml stack register' adds one)"
            )
        return entry

    def _component_entry(self, type_: ComponentType, name: str) -> ComponentEntry:
        entry = self.config.components(type_).get(name)
        if entry is None:
            raise self._unknown_component(type_, name)
        return entry

    def _unknown_component(self, type_: ComponentType, name: str) -> StackError:
        known = ", ".join(sorted(self.config.components(type_))) or "none"
        return StackError(
            f"unknown {type_.label} '{name}'; registered: {known} ('zenml {type_.cli_name} register' adds one)"
        )

    def component(self, type_: ComponentType, name: str) -> StackComponent:
        entry = self._component_entry(type_, name)
        flavor = self.flavors.get(type_, entry.flavor)
        config = _validate_component_config(flavor.config_class(), entry.config, type_, name)
        component: StackComponent = flavor.implementation()(name, entry.flavor, config, self.root)
        return component

    def get_stack(self, name: str | None = None) -> Stack:
        from zenml_kf.stack.stack import Stack

        stack_name = self.active_stack_name if name is None else name
        entry = self._stack_entry(stack_name)
        return Stack(
            name=stack_name,
            orchestrator=self.component(ComponentType.ORCHESTRATOR, entry.orchestrator),  # type: ignore[arg-type]
            artifact_store=self.component(ComponentType.ARTIFACT_STORE, entry.artifact_store),  # type: ignore[arg-type]
            metadata_store=self.component(ComponentType.METADATA_STORE, entry.metadata_store),  # type: ignore[arg-type]
        )

    @_locked
    def register_component(
        self, type_: ComponentType, name: str, flavor: str, settings: dict[str, Any]
    ) -> None:
        check_name(name, f"{type_.label} name", StackError)
        group = self.config.components(type_)
        if name in group:
            raise StackError(f"a {type_.label} named '{name}' already exists; pick another name or delete it")
        found = self.flavors.get(type_, flavor)
        config = _validate_component_config(found.config_class(), settings, type_, name, use_env=False)
        stored = config.model_dump(mode="json", include=set(settings))
        updated = self.config.model_copy(deep=True)
        updated.components(type_)[name] = ComponentEntry(flavor=flavor, config=stored)
        self._save(updated)

    @_locked
    def delete_component(self, type_: ComponentType, name: str) -> None:
        self._component_entry(type_, name)
        users = [s for s, e in self.config.stacks.items() if e.component(type_) == name]
        if users:
            raise StackError(
                f"{type_.label} '{name}' is used by stack(s) {', '.join(users)}; delete those stacks first"
            )
        updated = self.config.model_copy(deep=True)
        del updated.components(type_)[name]
        self._save(updated)

    @_locked
    def register_stack(
        self,
        name: str,
        orchestrator: str | None = None,
        artifact_store: str | None = None,
        metadata_store: str | None = None,
        set_active: bool = False,
        new_components: dict[ComponentType, tuple[str, dict[str, Any]]] | None = None,
    ) -> list[str]:
        """Register a stack, in one write of the registry.

        A component not given is the one named `default` that `zenml init` registers, so
        `register alt -a bucket` swaps only the artifact store. A component name that is
        not registered but is a flavor (`--orchestrator kubeflow`) registers a component of
        that name and flavor from its `ZENML_KF_<TYPE>_*` environment variables and
        defaults; `new_components` gives the (flavor, settings) of components to register
        with it. Returns a note for each.
        """
        from zenml_kf.stack.validation import check_stack

        check_name(name, "stack name", StackError)
        if name in self.config.stacks:
            raise StackError(f"a stack named '{name}' already exists; pick another name or delete it")
        given = {
            ComponentType.ORCHESTRATOR: orchestrator,
            ComponentType.ARTIFACT_STORE: artifact_store,
            ComponentType.METADATA_STORE: metadata_store,
        }
        notes = []
        for type_, component in given.items():
            if component is not None:
                continue
            if DEFAULT not in self.config.components(type_):
                raise StackError(
                    f"no {type_.label} given and none named '{DEFAULT}' is registered; "
                    f"name one with --{type_.cli_name}"
                )
            given[type_] = DEFAULT
            notes.append(f"took the {type_.label} '{DEFAULT}' (none given)")
        entry = StackEntry.model_validate({type_.value: component for type_, component in given.items()})
        updated = self.config.model_copy(deep=True)
        for type_ in ComponentType:
            component = entry.component(type_)
            if component in updated.components(type_):
                continue
            check_name(component, f"{type_.label} name", StackError)
            if new_components and type_ in new_components:
                flavor, settings = new_components[type_]
            elif component in self.flavors.names(type_):
                flavor = component
                settings = _env_settings(self.flavors.get(type_, flavor).config_class())
            else:
                raise self._unknown_component(type_, component)
            config_class = self.flavors.get(type_, flavor).config_class()
            config = _validate_component_config(config_class, settings, type_, component, use_env=False)
            stored = config.model_dump(mode="json", include=set(settings))
            updated.components(type_)[component] = ComponentEntry(flavor=flavor, config=stored)
            shown = ", ".join(f"{k}={v}" for k, v in stored.items()) or "defaults"
            notes.append(f"registered {type_.label} '{component}' (flavor {flavor}; {shown})")
        flavors = {t: updated.components(t)[entry.component(t)].flavor for t in ComponentType}
        check_stack(
            name,
            flavors[ComponentType.ORCHESTRATOR],
            flavors[ComponentType.ARTIFACT_STORE],
            flavors[ComponentType.METADATA_STORE],
        )
        updated.stacks[name] = entry
        if set_active:
            updated.active_stack = name
        self._save(updated)
        return notes

    def stack_document(self, name: str | None = None) -> StackDoc:
        """A registered stack as the registry holds it (its stored settings, without
        environment overrides): what `zenml stack export-values` turns into chart values."""
        from zenml_kf.stack.chart_values import StackDoc

        stack_name = self.active_stack_name if name is None else name
        entry = self._stack_entry(stack_name)
        parts = {}
        for type_ in ComponentType:
            component = self._component_entry(type_, entry.component(type_))
            parts[type_.value] = component.model_copy(deep=True)
        return StackDoc(stack=stack_name, **parts)

    @_locked
    def register_stack_document(self, doc: StackDoc, set_active: bool = False) -> list[str]:
        """Register the stack `doc` describes, its components named after it, in one write.

        A component of that name that is already registered with the same flavor and
        settings is used as it is; one with other settings is an error.
        """
        new: dict[ComponentType, tuple[str, dict[str, Any]]] = {}
        for type_ in ComponentType:
            wanted = doc.component(type_)
            existing = self.config.components(type_).get(doc.stack)
            if existing is None:
                new[type_] = (wanted.flavor, dict(wanted.config))
            elif (existing.flavor, existing.config) != (wanted.flavor, wanted.config):
                raise StackError(
                    f"a {type_.label} named '{doc.stack}' is registered with other settings; import "
                    "the stack under another name with --name, or delete that component"
                )
        return self.register_stack(doc.stack, doc.stack, doc.stack, doc.stack, set_active, new_components=new)

    @_locked
    def set_active_stack(self, name: str) -> None:
        self._stack_entry(name)
        updated = self.config.model_copy(deep=True)
        updated.active_stack = name
        self._save(updated)

    @_locked
    def delete_stack(self, name: str) -> None:
        self._stack_entry(name)
        if name == self.config.active_stack:
            raise StackError(f"stack '{name}' is active; 'zenml stack set OTHER' first, then delete it")
        updated = self.config.model_copy(deep=True)
        del updated.stacks[name]
        self._save(updated)

    # --- post-run API ---------------------------------------------------------------

    def metadata(self, stack: str | None = None) -> MetadataReader:
        from zenml_kf.metadata.stale_runs import reap_stale_runs
        from zenml_kf.metadata.views import MetadataReader
        from zenml_kf.orchestrators.kubeflow import as_kubeflow

        resolved = self.get_stack(stack)
        missing = resolved.metadata_store.missing()
        if missing is not None:
            raise NothingRecordedError(f"no runs to read on stack '{resolved.name}': {missing}")
        reap_stale_runs(resolved.metadata_store.store)  # runs of killed processes become FAILED
        kubeflow = as_kubeflow(resolved.orchestrator)
        if kubeflow is None:
            return MetadataReader(resolved.metadata_store.store, resolved.artifact_store, code_root=self.root)
        kfp = kubeflow.run_sources()  # a kubeflow stack: the KFP API knows run states and graphs
        return MetadataReader(
            resolved.metadata_store.store,
            resolved.artifact_store,
            kfp.run_status,
            kfp.graph_for_run,
            code_root=self.root,
        )

    def get_pipelines(self, stack: str | None = None) -> list[PipelineView]:
        return self.metadata(stack).pipelines()

    def get_pipeline(self, name: str, stack: str | None = None) -> PipelineView:
        return self.metadata(stack).pipeline(name)

    def get_run(self, run_id: str, stack: str | None = None) -> PipelineRunView:
        return self.metadata(stack).run(run_id)

    def delete_runs(
        self,
        runs: Sequence[str],
        artifacts: bool = False,
        stack: str | None = None,
        confirm: Callable[[list[str]], bool] | None = None,
    ) -> list[DeletedRun]:
        """Delete runs (ids or unique prefixes) and the artifact records no other run uses;
        with `artifacts`, their files too. All or nothing; see `metadata.deletion`."""
        from zenml_kf.metadata.deletion import delete_runs

        resolved = self.get_stack(stack)
        reader = self.metadata(stack)
        return delete_runs(reader, resolved.metadata_store, resolved.artifact_store, runs, artifacts, confirm)


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `.zen/config.yaml`."""
    for candidate in (start, *start.parents):
        if (candidate / ZEN_DIR / CONFIG_FILE).is_file():
            return candidate
    return None


def _read_config(path: Path) -> RepositoryConfig:
    fix = "fix it by hand or move it away and run 'zenml init' again"
    try:
        # Every command and run reads the registry: parsed once per change (see yaml_cache).
        raw = load_yaml(path.read_text(), path.parent / LOCAL_STORES / PARSED_CONFIG)
    except InvalidYAML as exc:
        where = f" at line {exc.line}" if exc.line is not None else ""
        raise RepositoryError(f"{path} is not valid YAML{where}; {fix}") from None
    except OSError as exc:
        raise RepositoryError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RepositoryError(f"{path} is not text (it holds binary data); {fix}") from None
    try:
        config = RepositoryConfig.model_validate(raw)
    except ValidationError as exc:
        raise RepositoryError(f"{path} is malformed ({describe(exc)}); {fix}") from None
    if config.version > CONFIG_VERSION:
        raise RepositoryError(
            f"{path} was written by a newer zenml-kf (registry version {config.version}, this one reads "
            f"{CONFIG_VERSION}); upgrade: pip install --upgrade zenml-kf"
        )
    for stack_name, entry in config.stacks.items():
        for type_ in ComponentType:
            if entry.component(type_) not in config.components(type_):
                raise RepositoryError(
                    f"{path}: stack '{stack_name}' names unknown {type_.label} "
                    f"'{entry.component(type_)}'; {fix}"
                )
    return config


def _write_config(path: Path, config: RepositoryConfig) -> None:
    import yaml

    data = config.model_dump(mode="json")
    text = yaml.safe_dump(data, sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    remember(text, data, path.parent / LOCAL_STORES / PARSED_CONFIG)


def _env_settings(config_class: Any) -> dict[str, Any]:
    """Settings of `config_class` given as `ZENML_KF_<TYPE>_<SETTING>` environment variables."""
    prefix = str(getattr(config_class, "ENV_PREFIX", ""))
    found = {}
    for field in config_class.model_fields:
        value = os.environ.get(f"{prefix}{field.upper()}")
        if value is not None:
            found[field] = value
    return found


def _validate_component_config(
    config_class: Any,
    settings: dict[str, Any],
    type_: ComponentType,
    name: str,
    use_env: bool = True,
) -> Any:
    try:
        if use_env:
            return config_class(**settings)
        return config_class.model_validate(settings)
    except ValidationError as exc:
        fields = ", ".join(config_class.model_fields) or "none"
        raise StackError(
            f"invalid settings for {type_.label} '{name}' ({describe(exc)}); its settings are: {fields}"
        ) from None
