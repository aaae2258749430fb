"""Neutral view -> what Teams shows: an Adaptive Card, or a plain text message.

Pure functions. View text is literal except for `backtick code spans` (never at a backtick
someone typed, ``as_typed``), so everything here is escaped for the markdown Teams applies: what
the member sees is what the core wrote.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from botbuilder.schema import Activity, ActivityTypes, Attachment, TextFormatTypes

from dialogs.views import (
    CODE_SPAN,
    Actions,
    Block,
    BulletList,
    Button,
    ButtonStyle,
    ChoiceInput,
    Facts,
    Heading,
    Image,
    Paragraph,
    TextInput,
    Tone,
    View,
    shown,
)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"

# Characters that mean something to markdown anywhere in a line.
_INLINE = re.compile(r"([\\*_\[\]~`])")
# What means something only at the start of a line: headings, quotes, list markers, rules.
_LINE_START = re.compile(r"^(\s*)(#|>|[-+=]|\d+(?=[.)]\s))", re.MULTILINE)
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

_BUTTON_STYLES = {ButtonStyle.PRIMARY: "positive", ButtonStyle.DANGER: "destructive"}
# Up to this many choices show as radio buttons; more as a drop-down.
MAX_EXPANDED_CHOICES = 7
# Teams refuses a message over about 28 KB: a card's text is kept well under it (chart images
# travel beside the card, as attachments of their own), each text block to a few screens.
MAX_CARD_BYTES = 24_000
MAX_TEXT_BLOCK = 5_000
ELLIPSIS = "…"
# Inside a code span, markdown that Teams' cards do not render as code could still make a link.
_LINK_IN_CODE = re.compile(r"\]\(")


def escape_card_text(text: str) -> str:
    """Adaptive Card markdown (bold, italic, lists, links) shown literally; `code spans` are
    kept whole, so a host that renders them shows code and one that does not shows backticks."""
    return _escape_outside_code(text, html=False)


def escape_message_text(text: str) -> str:
    """A Teams text message (markdown, rendered as HTML) shown literally; code spans stay code.

    Teams reads ``<area>`` in a message as an HTML tag, so outside code spans ``<``, ``>`` and
    ``&`` become entities; inside a code span markdown already shows everything as typed.
    """
    return _escape_outside_code(text, html=True)


def _escape_outside_code(text: str, *, html: bool) -> str:
    out = []
    position = 0
    for match in CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[position : match.start()], html=html, first=position == 0))
        # Adaptive Cards show code spans as typed, backticks and all, and a link inside one
        # would still be a link; a zero-width space between "]" and "(" shows as nothing.
        span = match.group(0)
        out.append(span if html else _LINK_IN_CODE.sub("]\u200b(", span))
        position = match.end()
    out.append(_escape_plain(text[position:], html=html, first=position == 0))
    return "".join(out)


def _escape_plain(part: str, *, html: bool, first: bool) -> str:
    # A backtick someone typed is escaped like any other markdown character.
    part = shown(part)
    if html:
        part = part.translate(_HTML)
    # Text right after a code span is mid-line until its first line break.
    return _escape_markdown(part, at_line_start=first)


def _escape_markdown(text: str, *, at_line_start: bool = True) -> str:
    head, newline, rest = ("", "", text) if at_line_start else text.partition("\n")
    escaped = _INLINE.sub(r"\\\1", head) + newline
    return escaped + _LINE_START.sub(_escape_line_start, _INLINE.sub(r"\\\1", rest))


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    if marker.isdigit():
        # "1. item" is a numbered list; "1\\. item" is not.
        return indent + marker + "\\"
    return indent + "\\" + marker


def is_plain_text(view: View) -> bool:
    """A view that is one plain paragraph reads better as an ordinary message than a card."""
    return len(view.blocks) == 1 and isinstance(view.blocks[0], Paragraph)


def render_card(view: View) -> dict[str, Any]:
    body = [element for block in view.blocks for element in _elements(block)]
    if not body:
        body = [_text_block(view.summary)]
    card = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
    }
    return _fitted(card)


def card_size(card: dict[str, Any]) -> int:
    """The card's size as sent."""
    return len(json.dumps(card).encode())


def _fitted(card: dict[str, Any]) -> dict[str, Any]:
    """Leave out the card's last elements until it fits, saying how many were left out."""
    body = card["body"]
    left_out = 0
    while card_size(card) > MAX_CARD_BYTES - 200 and len(body) > 1:
        body.pop()
        left_out += 1
    while card_size(card) > MAX_CARD_BYTES - 200:
        # One element too big on its own: halve its longest text until it fits.
        texts = [(e, "text") for e in body if isinstance(e.get("text"), str)] + [
            (fact, key) for e in body for fact in e.get("facts", ()) for key in ("title", "value")
        ]
        if not texts:
            break
        holder, key = max(texts, key=lambda found: len(found[0][found[1]]))
        if len(holder[key]) < 2:
            break
        holder[key] = _cut(holder[key], len(holder[key]) // 2)
    if left_out:
        body.append(_text_block(f"{ELLIPSIS} ({left_out} more not shown)", isSubtle=True))
    return card


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    text = text[: limit - 1]
    # Never end on half an escape (a lone backslash would escape the ellipsis).
    return (text[:-1] if text.endswith("\\") else text) + ELLIPSIS


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {
        "type": "TextBlock",
        "text": _cut(escape_card_text(text), MAX_TEXT_BLOCK),
        "wrap": True,
        **style,
    }


def _elements(block: Block) -> list[dict[str, Any]]:
    match block:
        case Heading(text=text):
            return [_text_block(text, weight="Bolder", size="Medium")]
        case Paragraph(text=text, tone=tone):
            return [_text_block(text, **_TONE_STYLES.get(tone, {}))]
        case Facts(items=items):
            facts = [
                {"title": escape_card_text(label), "value": escape_card_text(value)}
                for label, value in items
            ]
            return [{"type": "FactSet", "facts": facts}]
        case BulletList(items=items):
            if not items:
                return []
            lines = "\n".join(f"- {escape_card_text(' '.join(item.split()))}" for item in items)
            return [{"type": "TextBlock", "text": lines, "wrap": True}]
        case ChoiceInput():
            return [_choice_set(block)]
        case TextInput():
            return [_text_input(block)]
        case Image(title=title):
            # The picture itself is an attachment of the message (render_activity): Teams
            # clients do not reliably show a data URI inside a card, and it would count
            # against the card's size. The card keeps its title where it stood.
            return [_text_block(title, weight="Bolder")] if title.strip() else []
        case Actions(buttons=buttons):
            actions = [_action(button) for button in buttons]
            return [{"type": "ActionSet", "actions": actions}] if actions else []
    raise TypeError(f"no Adaptive Card rendering for {type(block).__name__}")


def _action(button: Button) -> dict[str, Any]:
    # An Action.Submit sends its data merged with the card's input values (by input id).
    action: dict[str, Any]
    if button.url:
        action = {"type": "Action.OpenUrl", "title": shown(button.label), "url": button.url}
    else:
        action = {
            "type": "Action.Submit",
            "title": shown(button.label),
            "data": {"command": button.command},
        }
    if button.style in _BUTTON_STYLES:
        action["style"] = _BUTTON_STYLES[button.style]
    return action


def _choice_set(choice: ChoiceInput) -> dict[str, Any]:
    # ``label`` and choice titles are shown as plain text, never as markdown: no escaping.
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": choice.name,
        "label": shown(choice.label),
        "style": "expanded" if len(choice.options) <= MAX_EXPANDED_CHOICES else "compact",
        "isMultiSelect": False,
        "choices": [{"title": shown(label), "value": value} for value, label in choice.options],
    }
    if choice.value is not None:
        element["value"] = choice.value
    return element


def _text_input(field: TextInput) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.Text",
        "id": field.name,
        "label": shown(field.label),
        "isMultiline": field.multiline,
        "maxLength": field.max_length,
    }
    if field.placeholder:
        element["placeholder"] = shown(field.placeholder)
    if field.value:
        element["value"] = field.value[: field.max_length]
    return element


_TONE_STYLES: dict[Tone, dict[str, Any]] = {
    Tone.MUTED: {"isSubtle": True},
    Tone.WARNING: {"color": "Warning"},
    Tone.GOOD: {"color": "Good"},
    Tone.STRONG: {"weight": "Bolder"},
}


def render_activity(view: View) -> Activity:
    """The message activity for a view: plain text for one paragraph, else a card; each of its
    pictures follows as an inline image attachment (a PNG as a base64 ``data:`` URL, which is
    how Teams takes an image a bot has only in memory, in personal and group chats alike)."""
    pictures = [block for block in view.blocks if isinstance(block, Image) and block.data]
    attachments = [_image_attachment(picture) for picture in pictures]
    if is_plain_text(view) or (pictures and len(pictures) == len(view.blocks)):
        # One paragraph, or pictures alone (their titles, or the summary, as the text).
        first = view.blocks[0]
        text = first.text if isinstance(first, Paragraph) else ""
        text = text or "\n".join(p.title for p in pictures if p.title.strip()) or view.summary
        return Activity(
            type=ActivityTypes.message,
            text=escape_message_text(text),
            text_format=TextFormatTypes.markdown,
            attachments=attachments or None,
        )
    card = Attachment(content_type=ADAPTIVE_CARD, content=render_card(view))
    return Activity(
        type=ActivityTypes.message, summary=shown(view.summary), attachments=[card, *attachments]
    )


def _image_attachment(image: Image) -> Attachment:
    return Attachment(
        content_type="image/png",
        content_url="data:image/png;base64," + base64.b64encode(image.data).decode("ascii"),
        name=image.filename,
    )
