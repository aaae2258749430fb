"""Neutral views: what the bot shows, before a renderer turns it into an Adaptive Card, Block Kit
or plain text. All text here is literal: renderers escape it, so what is shown is what was typed.

The one piece of markup is a `code span`, which the bot's own text uses for commands to copy.
Text someone typed goes in through ``as_typed``, so that backticks of theirs show as backticks
and never as code.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from enum import StrEnum

# A backtick someone typed: a word joiner (which shows as nothing) before it. Renderers show it
# as a backtick and never start or end a code span at it; ``shown`` is the text without marks.
TYPED_BACKTICK = "\u2060`"
_BACKTICK = re.compile("\u2060?`")
# A code span: a backtick, something without backticks or line breaks, a backtick; neither
# backtick one that someone typed. The group is what is inside.
CODE_SPAN = re.compile("(?<!\u2060)`([^`\n]+)(?<!\u2060)`")


def as_typed(text: str) -> str:
    """Text someone typed (a title, a story, a name), for a view: it shows exactly as typed,
    backticks and all, on every platform."""
    return _BACKTICK.sub(TYPED_BACKTICK, text) if "`" in text else text


def shown(text: str) -> str:
    """View text with its marks taken out, for where no markup applies."""
    return text.replace(TYPED_BACKTICK, "`")


class Tone(StrEnum):
    PLAIN = "plain"
    MUTED = "muted"
    STRONG = "strong"
    GOOD = "good"
    WARNING = "warning"


class ButtonStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    tone: Tone = Tone.PLAIN


@dataclass(frozen=True, slots=True)
class Facts:
    """Label/value pairs, e.g. a member's profile."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class BulletList:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Button:
    """Pressing it runs ``command`` as if the member had typed it, carrying the values of the
    view's inputs (if any) as the message's form. With ``url`` it opens that link instead."""

    label: str
    command: str
    style: ButtonStyle = ButtonStyle.DEFAULT
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ChoiceInput:
    """Pick one of ``options`` ((value, label) pairs), e.g. a rating on a framework's scale."""

    name: str
    label: str
    options: tuple[tuple[str, str], ...]
    value: str | None = None


@dataclass(frozen=True, slots=True)
class TextInput:
    name: str
    label: str
    value: str = ""
    multiline: bool = True
    max_length: int = 3000
    placeholder: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """A picture (a chart). ``data`` is PNG bytes; renderers post it as the platform allows."""

    title: str
    alt: str
    data: bytes = field(repr=False, default=b"")

    @property
    def filename(self) -> str:
        """The name the picture goes by as a file: its title, lower-case, in safe characters."""
        stem = re.sub(r"[^\w-]+", "-", self.title.lower()).strip("-")[:80]
        return f"{stem or 'chart'}.png"


@dataclass(frozen=True, slots=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Heading | Paragraph | Facts | BulletList | Actions | ChoiceInput | TextInput | Image


@dataclass(frozen=True, slots=True)
class View:
    """A message: ``summary`` is the one-line text for notifications and plain clients."""

    summary: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """A view to send back. ``private`` replies go only to the sender (a DM or ephemeral).
    ``updates_card`` replaces the message whose button was pressed (an announcement whose RSVP
    counts changed) where the platform can; otherwise it is not sent again. ``is_form`` is a
    form to fill in (its inputs, and a button that submits them): Slack opens it as a modal where
    the request allows one, Teams shows it as a card or in a task module."""

    view: View
    private: bool = False
    updates_card: bool = False
    is_form: bool = False


def text_reply(text: str, *, tone: Tone = Tone.PLAIN, private: bool = False) -> Reply:
    return Reply(View(summary=text, blocks=(Paragraph(text, tone),)), private=private)


# -- JSON form, for views stored in the outbox ------------------------------------------------


def view_to_dict(view: View) -> dict:
    blocks: list[dict] = []
    for block in view.blocks:
        match block:
            case Heading(text=text):
                blocks.append({"type": "heading", "text": text})
            case Paragraph(text=text, tone=tone):
                blocks.append({"type": "paragraph", "text": text, "tone": tone.value})
            case Facts(items=items):
                blocks.append({"type": "facts", "items": [list(pair) for pair in items]})
            case BulletList(items=items):
                blocks.append({"type": "bullets", "items": list(items)})
            case ChoiceInput(name=name, label=label, options=options, value=value):
                blocks.append(
                    {
                        "type": "choice",
                        "name": name,
                        "label": label,
                        "options": [list(o) for o in options],
                        "value": value,
                    }
                )
            case TextInput():
                blocks.append(
                    {
                        "type": "text_input",
                        "name": block.name,
                        "label": block.label,
                        "value": block.value,
                        "multiline": block.multiline,
                        "max_length": block.max_length,
                        "placeholder": block.placeholder,
                    }
                )
            case Image(title=title, alt=alt, data=data):
                blocks.append(
                    {
                        "type": "image",
                        "title": title,
                        "alt": alt,
                        "data": base64.b64encode(data).decode(),
                    }
                )
            case Actions(buttons=buttons):
                blocks.append(
                    {
                        "type": "actions",
                        "buttons": [
                            {
                                "label": b.label,
                                "command": b.command,
                                "style": b.style.value,
                                "url": b.url,
                            }
                            for b in buttons
                        ],
                    }
                )
    return {"summary": view.summary, "blocks": blocks}


def view_from_dict(data: dict) -> View:
    blocks: list[Block] = []
    for item in data.get("blocks", ()):
        kind = item["type"]
        if kind == "heading":
            blocks.append(Heading(item["text"]))
        elif kind == "paragraph":
            blocks.append(Paragraph(item["text"], Tone(item.get("tone", "plain"))))
        elif kind == "facts":
            blocks.append(Facts(tuple((label, value) for label, value in item["items"])))
        elif kind == "bullets":
            blocks.append(BulletList(tuple(item["items"])))
        elif kind == "actions":
            blocks.append(
                Actions(
                    tuple(
                        Button(
                            b["label"],
                            b["command"],
                            ButtonStyle(b.get("style", "default")),
                            b.get("url"),
                        )
                        for b in item["buttons"]
                    )
                )
            )
        elif kind == "choice":
            blocks.append(
                ChoiceInput(
                    item["name"],
                    item["label"],
                    tuple((v, lab) for v, lab in item["options"]),
                    item.get("value"),
                )
            )
        elif kind == "text_input":
            blocks.append(
                TextInput(
                    item["name"],
                    item["label"],
                    item.get("value", ""),
                    item.get("multiline", True),
                    item.get("max_length", 3000),
                    item.get("placeholder", ""),
                )
            )
        elif kind == "image":
            blocks.append(Image(item["title"], item["alt"], base64.b64decode(item["data"])))
        else:
            raise ValueError(f"unknown block type {kind!r}")
    return View(summary=data["summary"], blocks=tuple(blocks))
