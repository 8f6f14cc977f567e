"""How a step runs on a cluster: resources, scheduling, secrets, retries, caching, timeout.

`@step(settings=...)`, `@pipeline(settings=...)` and a config file's `settings:` keys are
raw dicts; the graph model holds them merged and validated (`StepSpec.settings`). They are
checked when the pipeline's graph is built, so a typo or a value Kubernetes would refuse
fails on the user's machine instead of minutes later in a pod. The rules mirror what
kfp 2.13, the KFP backends 2.2 to 2.14 and Kubernetes accept (quantities, GPU counts,
label and secret names, integer backoff factors). The local orchestrator ignores them.

Example::

    @step(settings={"cpu_limit": "2", "memory_limit": "4Gi", "gpu_type": "nvidia.com/gpu",
                    "gpu_count": 1, "secret_env": {"API_TOKEN": {"secret": "api", "key": "token"}},
                    "retries": 2, "timeout": "1h"})
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from zenml_kf.exceptions import SettingsError

# What kfp's PipelineTask setters accept (kfp/dsl/pipeline_task.py), so an error is raised
# here with a message that says how to fix it rather than deep inside kfp. Patterns stay
# strings: `re` compiles (and caches) one when it is first used, so a run whose steps set
# no resources pays for none of them.
_CPU = r"^([0-9]*[.])?[0-9]+m?$"
_MEMORY = r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$"
GPU_COUNTS = (0, 1, 2, 4, 8, 16)
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
_LABEL_NAME = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_DURATION = r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$"
# Env var names that hold credentials: their values must come from a Kubernetes secret,
# never from a literal that would be written into the compiled YAML. Long words match
# anywhere in the name (DBPASSWORD), short ones only as a whole '_'-separated part, so
# PATH, BYPASS, AUTHOR and TOKENIZERS_PARALLELISM stay allowed; a name ending in KEY
# (SSH_KEY, SIGNING_KEY; not MONKEY) or naming a connection string (DATABASE_URL, *_DSN) is one too.
_SECRET_LIKE = (
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN(?!IZER)|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|API_?KEY"
    r"|AUTHORIZATION|DATABASE_URL|CONNECTION_STRING|CONN_STR"
    r"|SSHKEY|(?:^|_)(?:PASS|PWD|PW|PAT|AUTH|CREDS|DSN|COOKIE|DB_URL)(?:_|$)|(?:^|_)KEY$"
)
_MEMORY_UNITS = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


class _Strict(BaseModel):
    # Validators are built on first use, not when the module is imported (each costs
    # milliseconds); the first graph built or settings checked pays for them.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SecretKeyRef(_Strict):
    """One key of a Kubernetes secret, exposed to the step as an environment variable."""

    secret: str
    key: str

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        if len(value) > 253 or not re.match(_DNS_SUBDOMAIN, value):
            raise ValueError(
                f"'{value}' is not a Kubernetes secret name (lower-case letters, digits, '-' and '.')"
            )
        return value

    @field_validator("key")
    @classmethod
    def _key_name(cls, value: str) -> str:
        if not re.match(_SECRET_KEY, value):
            raise ValueError(f"'{value}' is not a secret key (letters, digits, '-', '_' and '.')")
        return value


class Toleration(_Strict):
    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator 'Exists' takes no value; remove 'value'")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator 'Exists'")
        return self


class RetryPolicy(_Strict):
    max_retries: int = Field(ge=0, le=100)
    backoff: int | str | None = None
    backoff_factor: float | None = Field(default=None, gt=0)
    max_backoff: int | str | None = None

    @field_validator("backoff_factor")
    @classmethod
    def _whole_factor(cls, value: float | None) -> float | None:
        # KFP 2.5's Argo compiler casts the factor to an integer (1.5 runs as 1):
        # backend/src/v2/compiler/argocompiler/container.go at 2.5.0.
        if value is not None and not float(value).is_integer():
            raise ValueError(
                f"backoff_factor {value} is not a whole number; KFP backends turn it into an "
                f"integer ({int(value)}), so write {int(value) or 1} or {int(value) + 1}"
            )
        return value

    @field_validator("backoff", "max_backoff")
    @classmethod
    def _duration(cls, value: int | str | None) -> int | None:
        return None if value is None else parse_duration(value)


class StepSettings(_Strict):
    """The validated settings of one step (the pipeline's merged with the step's)."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    gpu_type: str | None = None
    gpu_count: StrictInt | None = None  # `true` is not 1 GPU
    env: dict[str, str] = {}
    secret_env: dict[str, SecretKeyRef] = {}
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    image_pull_secrets: list[str] = []
    retries: RetryPolicy | None = None
    caching: bool | None = None
    timeout: int | None = None

    @field_validator("cpu_request", "cpu_limit", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = _number_text(value)
        if not re.match(_CPU, text):
            raise ValueError(
                f"'{value}' is not a CPU quantity; use a number like 2 or 0.5, or millicores like 500m"
            )
        return text

    @field_validator("memory_request", "memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = _number_text(value)
        if not re.match(_MEMORY, text):
            raise ValueError(
                f"'{value}' is not a memory quantity; use a whole number with an optional unit "
                "like 512Mi, 4Gi or 2G"
            )
        return text

    @field_validator("gpu_count")
    @classmethod
    def _gpu_count(cls, value: int | None) -> int | None:
        if value is not None and value not in GPU_COUNTS:
            allowed = ", ".join(str(n) for n in GPU_COUNTS)
            raise ValueError(f"{value} GPUs cannot be requested; KFP accepts {allowed}")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        from zenml_kf.secrets import has_userinfo, looks_like_secret

        for name, text in value.items():
            _check_env_name(name)
            if re.search(_SECRET_LIKE, name.upper()):
                raise ValueError(
                    f"'{name}' looks like a credential and would be written into the pipeline "
                    f"YAML; use secret_env: {{{name}: {{secret: NAME, key: KEY}}}} instead"
                )
            if has_userinfo(text) or looks_like_secret(text):
                raise ValueError(
                    f"the value of '{name}' looks like a credential (user:password@ in a URL, or a "
                    f"key or token) and would be written into the pipeline YAML; use "
                    f"secret_env: {{{name}: {{secret: NAME, key: KEY}}}} instead"
                )
        return value

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, value: dict[str, SecretKeyRef]) -> dict[str, SecretKeyRef]:
        for name in value:
            _check_env_name(name)
        return value

    @field_validator("node_selector")
    @classmethod
    def _node_selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            prefix, _, name = key.rpartition("/")
            if (
                (prefix and not re.match(_DNS_SUBDOMAIN, prefix))
                or len(name) > 63
                or not re.match(_LABEL_NAME, name)
            ):
                raise ValueError(f"'{key}' is not a Kubernetes label key")
            if len(label) > 63 or not re.match(_LABEL_VALUE, label):
                raise ValueError(f"'{label}' (for '{key}') is not a Kubernetes label value")
        return value

    @field_validator("image_pull_secrets")
    @classmethod
    def _pull_secrets(cls, value: list[str]) -> list[str]:
        for name in value:
            SecretKeyRef._secret_name(name)
        return value

    @field_validator("retries", mode="before")
    @classmethod
    def _retries(cls, value: Any) -> Any:
        # `retries: 3` is the common case; the mapping form sets the backoff too.
        if isinstance(value, int) and not isinstance(value, bool):
            return {"max_retries": value}
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> int | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("a timeout must be longer than 0 seconds")
        return seconds

    @model_validator(mode="after")
    def _coherent(self) -> StepSettings:
        if self.gpu_count and not self.gpu_type:
            raise ValueError("gpu_count needs gpu_type too, e.g. gpu_type: nvidia.com/gpu")
        for kind, request, limit, parse in (
            ("cpu", self.cpu_request, self.cpu_limit, _cpu_value),
            ("memory", self.memory_request, self.memory_limit, _memory_value),
        ):
            if request is not None and limit is not None and parse(request) > parse(limit):
                raise ValueError(
                    f"{kind}_request {request} is larger than {kind}_limit {limit}; "
                    "Kubernetes rejects such a pod"
                )
        clash = set(self.env) & set(self.secret_env)
        if clash:
            raise ValueError(f"env var {sorted(clash)[0]} is set in both env and secret_env")
        return self


def parse_settings(raw: dict[str, Any], owner: str) -> StepSettings:
    """Validate settings (`owner`: "step 'train'", "pipeline 'p'"); a one-line `SettingsError`."""
    try:
        return StepSettings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"settings of {owner} are invalid: {_describe(exc)}") from exc


def parse_duration(value: int | float | str) -> int:
    """Seconds in `90`, `"90"`, `"90s"`, `"15m"`, `"1h30m"`."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30s, 15m, 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return int(value)
    text = value.strip()
    if text.isdigit():
        return int(text)
    match = re.match(_DURATION, text)
    if not text or match is None:
        raise ValueError(f"'{value}' is not a duration; write seconds or a string like 30s, 15m, 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


KNOWN_KEYS = tuple(StepSettings.model_fields)


def _describe(exc: ValidationError) -> str:
    item = exc.errors()[0]
    loc = ".".join(str(part) for part in item["loc"])
    if item["type"] == "extra_forbidden":
        message = f"unknown setting '{loc}'; known settings are: {', '.join(KNOWN_KEYS)}"
    else:
        text = str(item["msg"]).removeprefix("Value error, ")
        message = f"{loc}: {text}" if loc else text
    more = exc.error_count() - 1
    return message + (f" (and {more} more)" if more > 0 else "")


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return str(value).strip()


def _check_env_name(name: str) -> None:
    from zenml_kf.secrets import looks_like_secret

    if looks_like_secret(name):
        raise ValueError(
            "an env var name looks like an access key or token; give the variable's NAME, and "
            "the secret through secret_env"
        )
    if not re.match(_ENV_NAME, name):
        raise ValueError(f"'{name}' is not an environment variable name (letters, digits, '_')")


def _cpu_value(text: str) -> float:
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _memory_value(text: str) -> int:
    digits = re.match(r"^[0-9]+", text)
    assert digits is not None  # validated above
    return int(digits.group()) * _MEMORY_UNITS[text[digits.end() :]]
