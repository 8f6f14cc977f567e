"""Docker image references: checked before they are written into a pipeline.

The grammar is the one of `distribution/reference` (what `docker pull` parses), so a
reference accepted here is one a Kubernetes node can pull.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zenml_kf.exceptions import CompilerError

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"^{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True)
class ImageReference:
    repository: str  # with its registry, e.g. `gcr.io/proj/steps`
    tag: str | None = None
    digest: str | None = None

    @property
    def registry(self) -> str | None:
        first, sep, _ = self.repository.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return first
        return None

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_reference(text: str) -> ImageReference:
    """Parse `[registry/]path[:tag][@digest]`; a malformed one is a one-line CompilerError."""
    reason = _problem(text)
    if reason is not None:
        raise CompilerError(
            f"'{text}' is not a valid image reference ({reason}); write it like "
            "registry.example.com/team/steps:1.0 or steps@sha256:<64 hex digits>"
        )
    rest, _, digest = text.partition("@")
    repository, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        repository, tag = rest[:colon], rest[colon + 1 :]
    return ImageReference(repository, tag, digest or None)


def _problem(text: str) -> str | None:
    if not text or text != text.strip():
        return "it is empty or has spaces"
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.match(digest):
        return f"'{digest}' is not a digest"
    name = rest
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            return f"'{tag}' is not a tag"
    if len(name) > 255:
        return "the name is longer than 255 characters"
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _DOMAIN.match(parts[0]):
            return f"'{parts[0]}' is not a registry host"
        parts = parts[1:]
    for part in parts:
        if not _PATH_COMPONENT.match(part):
            return f"'{part}' must be lower-case letters, digits and single separators"
    return None
