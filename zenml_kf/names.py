"""One rule for every name that becomes part of a path, an ML Metadata context or a KFP
identifier: pipelines, steps, stacks and stack components.

A name is 1 to 63 letters, digits, `_`, `.` and `-`, starting with a letter or a digit: no
`/`, `\\`, `..` component, space or YAML syntax can reach a URI or a file path, and 63 is
what Kubernetes allows in a label. It is checked where a name enters (the decorators, the
registry), so URIs are only ever built from checked parts.
"""

from __future__ import annotations

import re

from zenml_kf.exceptions import ZenMLKFError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NAME = re.compile(NAME_PATTERN)


def check_name(value: object, what: str, error: type[ZenMLKFError] = ZenMLKFError) -> str:
    """`value` if it follows the name rule, else `error` naming `what` and the rule."""
    if isinstance(value, str) and _NAME.match(value):
        return value
    shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else repr(value[:77] + "...")
    raise error(
        f"{what} {shown} is not a valid name; use 1 to 63 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit"
    )
