"""What a practice record may hold, checked before anything is saved. Each refusal says what was
wrong and how to put it right. Text is kept as typed (renderers escape it); only what would
notify people or hide text is refused."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dialogs.grammar import PRACTICE_KINDS

MAX_TITLE = 150
MAX_TEXT = 3000
MAX_TAGS = 8
MAX_LINKS = 5
MAX_LINK = 500
MAX_MENTIONS = 3
ALL_AREAS = "all"

# The vocabulary every partnership starts with: the topics of the seed documents (the subject
# matter experts of the Family Learning Partnerships, the LLCP evaluation themes). Coordinators
# add more with `tag add`.
BUILT_IN_TAGS = frozenset(
    {
        "accessibility",
        "addiction",
        "adult-learning",
        "community",
        "culture",
        "digital",
        "drug-alcohol",
        "early-years",
        "employment",
        "engagement",
        "evaluation",
        "families",
        "family-violence",
        "funding",
        "governance",
        "language",
        "literacy",
        "marketing",
        "mental-health",
        "numeracy",
        "parents",
        "partnership",
        "pathways",
        "refugees",
        "schools",
        "trauma",
        "volunteers",
        "wellbeing",
        "young-people",
    }
)

_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_HASHTAG = re.compile(r"(?<!\S)#([^\s#]+)")
_LINK = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)
# Platform mentions as the edges write them (<@U123>), Slack's broadcasts (<!channel>), and the
# words that notify a whole channel when typed.
_MENTION = re.compile(r"<@[^>\s]+>")
_BROADCAST = re.compile(r"<!(?:channel|here|everyone)\b[^>]*>|(?<!\w)@(?:channel|here|everyone)\b")
# Control characters other than tab and line break: invisible, and some hosts choke on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class Problem(Exception):
    """What is wrong with a record as given."""


@dataclass(frozen=True, slots=True)
class Fields:
    title: str
    text: str
    kind: str
    tags: tuple[str, ...]
    area: str | None  # an area name, or None for the whole partnership
    links: tuple[str, ...]


def tag_of(raw: str) -> str:
    return raw.strip().lstrip("#").casefold().replace("_", "-")


def split_tags(raw: str) -> list[str]:
    return [tag_of(part) for part in re.split(r"[\s,;]+", raw) if tag_of(part)]


def hashtags(text: str) -> tuple[str, list[str]]:
    """``text`` without its #tags, and the tags."""
    tags = [tag_of(match.group(1)) for match in _HASHTAG.finditer(text)]
    rest = _HASHTAG.sub("", text)
    return " ".join(rest.split(" ")).strip(), tags


def check_tags(tags: Iterable[str], known: set[str]) -> tuple[str, ...]:
    unique: list[str] = []
    for tag in tags:
        if not _TAG.match(tag):
            raise Problem(
                f"`{tag[:40]}` can't be a tag: tags are 2 to 40 letters, digits or hyphens, "
                "like `family-violence`."
            )
        if tag not in known:
            close = difflib.get_close_matches(tag, sorted(known), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
            raise Problem(
                f"There's no tag `{tag}` in the library.{hint} See `practice tags`; a "
                "coordinator can add one with `tag add <tag>`."
            )
        if tag not in unique:
            unique.append(tag)
    if len(unique) > MAX_TAGS:
        raise Problem(f"That is {len(unique)} tags; the most is {MAX_TAGS}.")
    return tuple(unique)


def is_link(text: str) -> bool:
    return len(text) <= MAX_LINK and bool(_LINK.match(text))


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _check_words(label: str, text: str) -> None:
    if _BROADCAST.search(text):
        raise Problem(
            f"The {label} would notify everyone in a channel (@channel, @here or @everyone). "
            "Leave that out: the digest tells people about new practice."
        )
    if len(_MENTION.findall(text)) > MAX_MENTIONS:
        raise Problem(
            f"The {label} mentions {len(_MENTION.findall(text))} people; the most is "
            f"{MAX_MENTIONS}. Name them without @ instead."
        )


def check(
    *,
    title: str,
    text: str,
    kind: str,
    tags: Iterable[str],
    area: str | None,
    links: Iterable[str],
    known_tags: set[str],
) -> Fields:
    title = " ".join(_clean(title).split())
    text = _clean(text).strip()
    if not title:
        raise Problem("The title is empty. Give the record a short title.")
    if len(title) > MAX_TITLE:
        raise Problem(f"The title is {len(title)} characters long; the most is {MAX_TITLE}.")
    if len(text) > MAX_TEXT:
        raise Problem(
            f"The text is {len(text)} characters long; the most is {MAX_TEXT}. Shorten it, or "
            "share the full document as a link."
        )
    _check_words("title", title)
    _check_words("text", text)
    kind = (kind or "idea").strip().casefold()
    if kind not in PRACTICE_KINDS:
        raise Problem(f"The kind must be one of {', '.join(PRACTICE_KINDS)}, not `{kind[:20]}`.")
    checked_links: list[str] = []
    for link in links:
        link = link.strip()
        if not link:
            continue
        if len(link) > MAX_LINK or not _LINK.match(link):
            raise Problem(
                f"`{link[:60]}` is not a web link; links start with https:// (or http://) "
                f"and are at most {MAX_LINK} characters."
            )
        if link not in checked_links:
            checked_links.append(link)
    if len(checked_links) > MAX_LINKS:
        raise Problem(f"That is {len(checked_links)} links; the most is {MAX_LINKS}.")
    if not text and not checked_links:
        raise Problem("Write the story or idea, or add a link to it.")
    area = " ".join((area or "").split()) or None
    if area is not None and area.casefold() == ALL_AREAS:
        area = None
    return Fields(
        title=title,
        text=text,
        kind=kind,
        tags=check_tags(tags, known_tags),
        area=area,
        links=tuple(checked_links),
    )
