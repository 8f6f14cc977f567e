"""Telling secrets from names, and keeping them out of what zenml-kf stores or prints.

`.zen/config.yaml` is committed, each run's ML Metadata record holds the stack's settings,
and `describe` commands print them; none of these may carry a credential. Settings that
name a secret (`*_env`, `*_file`) must look like names, URLs and hosts must not carry
`user:password@`, and whatever is recorded or printed goes through `redact`.

The shapes are deliberately conservative: well-known key and token formats (AWS key ids,
GitHub, GitLab, Slack, Google, Stripe, OpenAI and Hugging Face tokens, JWTs, PEM private
keys) plus long random-looking strings (mixed case with digits, the shape of AWS secret
keys and base64 or url-safe tokens). Lower-case hex (git commits, image digests) and
ordinary identifiers, paths and words are left alone.

Pure functions over strings, standard library only: cheap to import from any module.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
"""What a setting naming an environment variable must look like (POSIX, upper case)."""

_BOUND_L = r"(?<![A-Za-z0-9])"
_BOUND_R = r"(?![A-Za-z0-9])"

# Formats with a recognisable prefix: matched anywhere in a string.
_KNOWN_TOKENS = re.compile(
    "|".join(
        [
            # AWS access key ids: long-term (AKIA), temporary (ASIA) and the other unique-id prefixes.
            _BOUND_L + r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}" + _BOUND_R,
            _BOUND_L + r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
            _BOUND_L + r"github_pat_[A-Za-z0-9_]{30,}",  # GitHub fine-grained PATs
            _BOUND_L + r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab PATs
            _BOUND_L + r"xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack tokens
            _BOUND_L + r"xapp-[A-Za-z0-9-]{10,}",  # Slack app tokens
            _BOUND_L + r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?",  # JWTs
            _BOUND_L + r"AIza[0-9A-Za-z_-]{35}",  # Google API keys
            _BOUND_L + r"ya29\.[0-9A-Za-z_-]{20,}",  # Google OAuth access tokens
            _BOUND_L + r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe keys
            # OpenAI / Anthropic keys (with a digit and a capital: not words like sk-learn-...)
            _BOUND_L + r"sk-(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Z])[A-Za-z0-9_-]{20,}",
            _BOUND_L + r"hf_[A-Za-z0-9]{30,}",  # Hugging Face tokens
            _BOUND_L + r"npm_[A-Za-z0-9]{36}",  # npm tokens
            r"-----BEGIN[A-Z ]*PRIVATE KEY-----",  # PEM private keys
        ]
    )
)
# Candidates for the shape rules below: runs of base64 / url-safe characters.
_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{24,}(?![A-Za-z0-9+/=_-])")
_NO_SLASH_RUN = re.compile(r"(?<![A-Za-z0-9+=_-])[A-Za-z0-9+=_-]{24,}(?![A-Za-z0-9+=_-])")
_LOWER_RUN = re.compile(r"[a-z]+")
_LOWER_WORD = re.compile(r"[a-z]{4,}")

# `scheme://user:password@host` anywhere in a string, and a bare `user:password@host`.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")
_BARE_USERINFO = re.compile(r"(?<![^\s=\"'(,;])[^\s/@:=\"'(,;]+:[^\s/@]+@(?=[A-Za-z0-9\[])")


def _longest_lower_run(text: str) -> int:
    return max((len(m) for m in _LOWER_RUN.findall(text)), default=0)


def _random_looking(token: str) -> bool:
    """Mixed-case with digits and no long lower-case words: a key, not an identifier."""
    if not (any(c.islower() for c in token) and any(c.isupper() for c in token)):
        return False
    if "/" in token or "+" in token:
        # An AWS secret access key: exactly 40 characters of base64, may hold '/' and '+'.
        segments = token.strip("=").split("/")
        return (
            len(token) == 40
            and not token.startswith("/")
            and not any(_LOWER_WORD.fullmatch(s) for s in segments)
            and all(s for s in segments)
        )
    if not any(c.isdigit() for c in token):
        return False
    core = token.strip("=")
    if len(core) == 40 and core.isalnum():
        return True  # the AWS secret access key shape
    return len(core) >= 30 and _longest_lower_run(core) <= 5


def _upper_key(token: str) -> bool:
    """A long upper-case/digit run without separators: a hex or base32 key, not a name."""
    return (
        len(token) >= 24
        and token.isalnum()
        and token.upper() == token
        and sum(c.isdigit() for c in token) >= 4
        and sum(c.isalpha() for c in token) >= 4
    )


def _secret_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _KNOWN_TOKENS.finditer(text)]
    for m in _B64_RUN.finditer(text):
        token = m.group()
        if ("/" in token or "+" in token) and _random_looking(token):
            spans.append(m.span())
    for m in _NO_SLASH_RUN.finditer(text):
        token = m.group()
        if _random_looking(token) or _upper_key(token):
            spans.append(m.span())
    return sorted(spans)


def has_userinfo(url: str) -> bool:
    """Whether a URL or `host[:port]` carries `user[:password]@` (credentials in the address)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return "@" in authority


def looks_like_secret(value: str) -> bool:
    """Whether `value` is, or holds, something shaped like a key, token or URL credentials."""
    return (
        bool(_secret_spans(value)) or bool(_URL_USERINFO.search(value)) or bool(_BARE_USERINFO.search(value))
    )


def redact_text(text: str) -> str:
    """`text` with URL userinfo and every secret-shaped token replaced by `***`."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _BARE_USERINFO.sub(f"{MASK}@", text)
    spans = _secret_spans(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        if start < last:  # overlapping matches: extend the one already masked
            continue
        parts.append(text[last:start])
        parts.append(MASK)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def redact(value: Any) -> Any:
    """`value` with secrets masked, recursively through dicts, lists and tuples."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    return value


def check_env_name(value: str) -> str:
    """`value` if it is an environment variable's name; a `ValueError` that never echoes it."""
    if not ENV_NAME.fullmatch(value):
        raise ValueError(
            "give the NAME of an environment variable that holds the secret (upper-case letters, "
            "digits and '_', e.g. MY_SECRET), not the secret itself"
        )
    if looks_like_secret(value):
        raise ValueError(
            "this looks like an access key or token, not an environment variable name; give the "
            "NAME of the variable that holds it (e.g. MY_SECRET), not the secret itself"
        )
    return value


def check_no_userinfo(value: str, instead: str) -> str:
    """`value` unless it holds credentials (URL userinfo, a key or token); the error names `instead`."""
    if has_userinfo(value) or looks_like_secret(value):
        raise ValueError(
            f"holds credentials (user:password@ or a key or token); remove them and use {instead}"
        )
    return value
