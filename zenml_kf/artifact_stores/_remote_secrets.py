"""Settings that name where a secret lives, never the secret itself.

`.zen/config.yaml` is meant to be committed, so remote components store the *name* of an
environment variable or the *path* of a mounted secret file and read the value when they
connect. A setting that looks like a secret rather than a variable name is rejected at
registration, before it can reach the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from zenml_kf.exceptions import ZenMLKFError
from zenml_kf.secrets import MASK, check_env_name, looks_like_secret

EnvVarName = Annotated[str, AfterValidator(check_env_name)]
"""A setting holding an environment variable's name (upper-case letters, digits, '_'; no key shapes)."""


class SecretNotFoundError(ZenMLKFError):
    """A setting names an environment variable or file that does not hold the secret."""


def read_env_secret(name: str, purpose: str) -> str:
    """The value of env var `name`; `purpose` says which setting named it, for the error."""
    value = os.environ.get(name)
    if value is None:
        shown = MASK if looks_like_secret(name) else name
        raise SecretNotFoundError(
            f"environment variable {shown} is not set ({purpose} names it); export it first"
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
