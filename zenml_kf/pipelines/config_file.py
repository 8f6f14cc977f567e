"""Run configuration files: YAML that overrides step parameters without touching code.

enable_cache: false            # optional, whole pipeline
settings: {...}                # optional, cluster settings for every step
steps:
  trainer:
    enable_cache: true         # optional, one step
    parameters: {gamma: 0.01}
    settings: {...}            # optional, cluster settings for this step
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from zenml_kf.exceptions import ConfigFileError
from zenml_kf.grammar import with_article
from zenml_kf.validation import describe


class StepOverrides(BaseModel):
    # Validators built when a config file is first read: every graph imports this module
    # for `merge_settings`, most runs read no config file.
    model_config = ConfigDict(extra="forbid", defer_build=True)
    parameters: dict[str, Any] = {}
    enable_cache: bool | None = None
    settings: dict[str, Any] = {}


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    enable_cache: bool | None = None
    settings: dict[str, Any] = {}
    steps: dict[str, StepOverrides] = {}


def merge_settings(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Nested merge: `override` wins, sub-dicts merge key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_run_config(path: str | Path) -> RunConfig:
    import yaml

    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file '{path}': {exc.strerror}; check the path") from None
    except UnicodeDecodeError:
        raise ConfigFileError(
            f"config file '{path}' is not text (it holds binary data); give a YAML file"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigFileError(f"config file '{path}' is not valid YAML{where}; fix its syntax") from None
    if raw is not None and not isinstance(raw, dict):
        # pydantic would name the model ("instance of RunConfig"), which the user never wrote
        raise ConfigFileError(
            f"config file '{path}' holds {with_article(type(raw).__name__)} at its top level; expected a mapping "
            "like 'steps: {STEP: {parameters: {NAME: VALUE}}}'"
        )
    steps = raw.get("steps") if raw else None
    for step, entry in (steps or {}).items() if isinstance(steps, dict) else ():
        if not isinstance(entry, dict):
            what = "empty" if entry is None else with_article(type(entry).__name__)
            raise ConfigFileError(
                f"config file '{path}': steps.{step} is {what}; expected a mapping "
                f"like 'steps: {{{step}: {{parameters: {{NAME: VALUE}}}}}}'"
            )
    try:
        return RunConfig.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigFileError(
            f"config file '{path}' is malformed ({describe(exc)}); expected "
            "'steps: {STEP: {parameters: {NAME: VALUE}}}'"
        ) from None
