"""Settings that name where a secret lives, never the secret itself.

`.zen/config.yaml` is meant to be committed, so remote components store the *name* of an
environment variable or the *path* of a mounted secret file and read the value when they
connect. A setting that looks like a secret rather than a variable name is rejected at
registration, before it can reach the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from zenml_kf.exceptions import ZenMLKFError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            "give the NAME of an environment variable that holds the secret (e.g. MY_SECRET), "
            "not the secret itself"
        )
    return value


EnvVarName = Annotated[str, AfterValidator(_check_env_name)]
"""A setting holding an environment variable's name (letters, digits, underscores)."""


class SecretNotFoundError(ZenMLKFError):
    """A setting names an environment variable or file that does not hold the secret."""


def read_env_secret(name: str, purpose: str) -> str:
    """The value of env var `name`; `purpose` says which setting named it, for the error."""
    value = os.environ.get(name)
    if value is None:
        raise SecretNotFoundError(
            f"environment variable {name} is not set ({purpose} names it); export it first"
        )
    return value


def read_secret_file(path: str | Path, purpose: str) -> str:
    """A mounted secret file's content without its trailing newline (as `kubectl` writes them)."""
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise SecretNotFoundError(
            f"cannot read secret file {path} ({purpose} names it): {exc.strerror}; "
            "mount or create it, or fix the setting"
        ) from None
