"""Stack components: a pydantic config per flavor and a small base class.

Configs are pydantic-settings models: values stored in `.zen/` can be overridden by
environment variables named `ZENML_KF_<TYPE>_<SETTING>` (e.g.
`ZENML_KF_ORCHESTRATOR_MAX_WORKERS=2`), which is how CI and containers adjust a stack
without editing the registry, and how secrets stay out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from zenml_kf.stack.types import ComponentType


class ComponentConfig(BaseSettings):
    """Base of every flavor's settings; unknown keys are errors, env wins over the file."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


class OrchestratorConfig(ComponentConfig):
    model_config = SettingsConfigDict(env_prefix=ComponentType.ORCHESTRATOR.env_prefix)


class ArtifactStoreConfig(ComponentConfig):
    model_config = SettingsConfigDict(env_prefix=ComponentType.ARTIFACT_STORE.env_prefix)


class MetadataStoreConfig(ComponentConfig):
    model_config = SettingsConfigDict(env_prefix=ComponentType.METADATA_STORE.env_prefix)


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
