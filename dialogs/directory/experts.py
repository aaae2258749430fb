"""Loose matching of expertise topics: "trauma" finds "Family violence and trauma"."""

from __future__ import annotations

import re

_STOP = {"and", "or", "the", "of", "a", "an", "in", "for", "to", "with", "on"}


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "s", "al"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.casefold()) if w not in _STOP}


def matches(query: str, topic: str) -> bool:
    """Every word of the query starts (or is the start of) some word of the topic."""
    wanted, have = words(query), words(topic)
    if not wanted:
        return False
    return all(any(h.startswith(w) or w.startswith(h) for h in have) for w in wanted)
