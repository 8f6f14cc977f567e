"""The requirement lines of a step image: the user's, then what the materializers need.

A materializer's libraries are pinned to the versions installed where the pipeline is
compiled, so a DataFrame written by a local run reads the same in a pod and back. The
user's own lines win: a package they name (with or without a version) is left to them,
and one the base image installs (numpy, cloudpickle) is left to the base.
"""

from __future__ import annotations

from pathlib import Path

from zenml_kf.images.distributions import canonical, local_version, requirement_name

BASE_REQUIREMENTS = Path(__file__).resolve().parent / "base" / "requirements.txt"


def named(lines: list[str]) -> set[str]:
    """Canonical names of the distributions requirement lines name."""
    return {name for name in map(requirement_name, lines) if name is not None}


def base_requirements() -> list[str]:
    """The lines of the base image's requirements.txt (comments left out)."""
    try:
        text = BASE_REQUIREMENTS.read_text()
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def pinned_additions(materializer: list[str], user: list[str], base: list[str]) -> list[str]:
    """`name==local version` for each materializer requirement neither list names."""
    taken = named(user) | named(base)
    added: list[str] = []
    for name in sorted(set(materializer), key=canonical):
        key = canonical(name)
        if key in taken:
            continue
        taken.add(key)
        version = local_version(name)
        added.append(f"{name}=={version}" if version else name)
    return added


def image_requirements(user: list[str], materializer: list[str]) -> list[str]:
    """Every line the step image's requirements.txt holds, the user's first."""
    return [*user, *pinned_additions(materializer, user, base_requirements())]
