"""Loose matching of expertise topics: "trauma" finds "Family violence and trauma", and so do
"domestic violence", "Violence, family", "famil viol" and "DV".

A query matches a topic when every word of the query matches some word of the topic: in any
order and case, singular or plural (a light stemmer), as the start of a word ("addict" finds
"addiction"), through a few synonyms people use for the seed topics, or with one slip of typing.
"""

from __future__ import annotations

import difflib
import re

_STOP = {"and", "or", "the", "of", "a", "an", "in", "for", "to", "with", "on", "&"}

# A word people type -> words of the seed topics (seed 000: family violence and trauma, drug
# and alcohol addiction, language or cultural barriers, engagement and adult learning
# principles) it stands for. Keys and values are stemmed when compared.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "domestic": ("family",),
    "dv": ("family", "violence"),
    "fdv": ("family", "violence"),
    "abuse": ("violence",),
    "aod": ("drug", "alcohol"),
    "substance": ("drug",),
    "substances": ("drug",),
    "addict": ("addiction",),
    "alcoholism": ("alcohol",),
    "eal": ("language",),
    "esl": ("language",),
    "esol": ("language",),
    "english": ("language",),
    "interpreter": ("language",),
    "interpreting": ("language",),
    "multicultural": ("cultural",),
    "culture": ("cultural",),
    "cald": ("cultural", "language"),
    "migrant": ("cultural",),
    "refugee": ("cultural",),
    "andragogy": ("adult", "learning"),
    "participation": ("engagement",),
    "engaging": ("engagement",),
    "adults": ("adult",),
}


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "s", "al"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.casefold()) if w not in _STOP}


def _alternatives(word: str) -> set[str]:
    found = {word}
    for key, meant in SYNONYMS.items():
        if _stem(key) == word:
            found |= {_stem(m) for m in meant}
    return found


def _word_matches(wanted: str, have: set[str]) -> bool:
    for alternative in _alternatives(wanted):
        for word in have:
            if word.startswith(alternative) or (len(word) >= 3 and alternative.startswith(word)):
                return True
            if (
                len(alternative) >= 5
                and difflib.SequenceMatcher(None, alternative, word).ratio() >= 0.8
            ):
                return True
    return False


def matches(query: str, topic: str) -> bool:
    """Every word of the query matches some word of the topic."""
    wanted, have = words(query), words(topic)
    if not wanted:
        return False
    return all(_word_matches(word, have) for word in wanted)


def closest(query: str, topics: list[str], *, n: int = 3) -> list[str]:
    """The topics that share the most words with the query, for a "did you mean"."""
    wanted = words(query)
    scored = [
        (sum(_word_matches(word, words(topic)) for word in wanted), topic) for topic in topics
    ]
    return [topic for score, topic in sorted(scored, key=lambda s: -s[0]) if score][:n]
