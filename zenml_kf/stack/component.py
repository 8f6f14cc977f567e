"""Stack components: a pydantic config per flavor and a small base class.

Values stored in `.zen/` can be overridden by environment variables named
`ZENML_KF_<TYPE>_<SETTING>` (e.g. `ZENML_KF_ORCHESTRATOR_MAX_WORKERS=2`), which is how CI
and containers adjust a stack without editing the registry, and how secrets stay out of it.
Creating a config (`Config(**stored)`) reads them, through pydantic-settings' environment
source; `model_validate` does not.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict

from zenml_kf.stack.types import ComponentType


class ComponentConfig(BaseModel):
    """Base of every flavor's settings; unknown keys are errors, env wins over the file."""

    # validate_default as pydantic-settings did: a default goes through the validators too.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    ENV_PREFIX: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**values, **env_overrides(type(self))})


class OrchestratorConfig(ComponentConfig):
    ENV_PREFIX = ComponentType.ORCHESTRATOR.env_prefix


class ArtifactStoreConfig(ComponentConfig):
    ENV_PREFIX = ComponentType.ARTIFACT_STORE.env_prefix


class MetadataStoreConfig(ComponentConfig):
    ENV_PREFIX = ComponentType.METADATA_STORE.env_prefix


def env_overrides(config_class: type[ComponentConfig]) -> dict[str, Any]:
    """The settings of `config_class` set as `<ENV_PREFIX><SETTING>` variables, any case.

    Read by pydantic-settings' own environment source, with its rules (names in any case,
    list and dict settings as JSON); imported only when such a variable is set, since the
    package and the asyncio it loads cost every run about 60 ms and 14 MB. Text that is
    not JSON is passed on as it is, so the field's validation names the problem.
    """
    prefix = config_class.ENV_PREFIX.lower()
    if not prefix or not any(key.lower().startswith(prefix) for key in os.environ):
        return {}
    from pydantic_settings import EnvSettingsSource

    values: dict[str, Any] = EnvSettingsSource(_environment_twin(config_class))()
    return values


@functools.cache
def _environment_twin(config_class: type[ComponentConfig]) -> Any:
    """A settings twin of `config_class` for pydantic-settings to read: the same fields, none
    required, each also taking plain text (so a list that is not JSON reaches the field's
    own validator, which may split it or name the problem), nothing validated."""
    from pydantic import create_model
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Environment(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=config_class.ENV_PREFIX, extra="ignore")

    fields: dict[str, Any] = {
        name: (Union[field.annotation, str], None)  # noqa: UP007  (annotation may be a special form)
        for name, field in config_class.model_fields.items()
    }
    return create_model(f"{config_class.__name__}Environment", __base__=Environment, **fields)


class StackComponent:
    """A configured component. `root` is the repository root that relative paths hang off."""

    TYPE: ClassVar[ComponentType]

    def __init__(self, name: str, flavor: str, config: Any, root: Path) -> None:
        self.name = name
        self.flavor = flavor
        self.config = config
        self.root = root

    def describe(self) -> dict[str, Any]:
        """Name, flavor and settings, with anything credential-shaped masked.

        What `describe` commands print and what each run records: settings naming a secret
        (`*_env`, `*_file`) show, but URL userinfo and key- or token-shaped values, including
        ones that came from `ZENML_KF_*` overrides, become `***`.
        """
        from zenml_kf.secrets import redact

        settings: dict[str, Any] = redact(self.config.model_dump(mode="json"))
        return {"name": self.name, "flavor": self.flavor, **settings}
