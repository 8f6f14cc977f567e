"""Small pieces of English for messages built from names and type names."""

from __future__ import annotations


def with_article(noun: str) -> str:
    """`an int`, `a str`, `an orchestrator`: messages interpolate type and component names,
    and a fixed `a` reads wrong before a vowel."""
    article = "an" if noun[:1].lower() in ("a", "e", "i", "o", "u") else "a"
    return f"{article} {noun}"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 step`, `2 steps`: counts in messages read as English."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
