"""Neutral view -> Slack Block Kit. Pure functions.

Text in a view is literal, so everything is escaped for mrkdwn: ``&``, ``<`` and ``>`` become
entities (so ``<!channel>`` or ``<@U1>`` typed by a member cannot ping anyone), and the characters
that would start bold, italic, strike-through, an emoji or a quote are fenced with zero-width
spaces, which Slack shows as nothing (Slack documents escapes for ``&``, ``<`` and ``>`` only).
The views' one piece of markup, backtick code spans, stays code; a backtick someone typed
(``as_typed``) is fenced like the rest. Slack's limits
(https://docs.slack.dev/reference/block-kit/blocks) are respected by splitting, never by
failing: 3000 characters of section text, 10 fields per section, 2000 per field, 150 per
header, 75 per button label, 25 elements per actions block, 50 blocks.

Inputs are ``input`` blocks whose block_id is ``in:<name>`` and whose element's action_id is the
input's name, so a button press's ``state.values`` names each value as the view did. Slack shows
images only from a public URL, which a bot on loopback has not got: an Image becomes a line
saying the chart comes as a file, and the edge uploads the PNG (``images_of``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from bot.render_text import render_text
from dialogs.views import (
    CODE_SPAN,
    Actions,
    BulletList,
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

ZWSP = "\u200b"
MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_LABEL = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_LABEL = 2000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER = 150
MAX_RADIO_OPTIONS = 10
MAX_SELECT_OPTIONS = 100
MAX_INPUT_LENGTH = 3000
MAX_ID = 255
MAX_BUTTONS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000
ELLIPSIS = "…"
# Texts up to this long are escaped once per process and remembered (mrkdwn).
_REMEMBERED_LENGTH = 300

Block = dict[str, Any]

# A web address in view text (a download link, a meeting URL) becomes a Slack link: escaping its
# underscores like member text would break it. A code span is the views' (CODE_SPAN); a
# backtick someone typed (TYPED_BACKTICK) is neither code nor part of an address.
_CODE_OR_URL = re.compile(
    CODE_SPAN.pattern + r"|(https?://[^\s<>|`\u2060]+[^\s<>|`\u2060.,;:!?)\]])"
)
_FORMATTING = re.compile(r"[*_~`]")
# ``:name:`` would become an emoji; a line starting with ``>`` a quote.
_EMOJI_COLON = re.compile(r":(?=[\w+-]+:)")
_QUOTE_START = re.compile(r"^(&gt;)", re.MULTILINE)


def escape_entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _literal(text: str) -> str:
    """Plain member text as mrkdwn that shows exactly these characters (a typed backtick is
    fenced like ``*`` or ``_``, so it starts no code)."""
    text = escape_entities(shown(text))
    text = _FORMATTING.sub(lambda match: f"{ZWSP}{match.group(0)}{ZWSP}", text)
    text = _EMOJI_COLON.sub(":" + ZWSP, text)
    return _QUOTE_START.sub(ZWSP + r"\1", text)


def mrkdwn(text: str) -> str:
    """Escape view text for mrkdwn, keeping its backtick code spans as code. The short texts
    every reply repeats (help's lines, headings, labels) are escaped once and remembered."""
    if len(text) > _REMEMBERED_LENGTH:
        return _mrkdwn(text)
    return _remembered_mrkdwn(text)


def _mrkdwn(text: str) -> str:
    parts: list[str] = []
    position = 0
    for match in _CODE_OR_URL.finditer(text):
        parts.append(_literal(text[position : match.start()]))
        if match.group(1) is not None:
            # Inside code Slack applies no formatting; only the entities need escaping.
            parts.append(f"`{escape_entities(match.group(1))}`")
        else:
            parts.append(f"<{escape_entities(match.group(2))}>")
        position = match.end()
    parts.append(_literal(text[position:]))
    return "".join(parts)


_remembered_mrkdwn = functools.lru_cache(maxsize=2048)(_mrkdwn)


def plain(text: str) -> str:
    """View text for a plain_text field: code spans lose their backticks, typed backticks stay,
    nothing else changes."""
    return shown(CODE_SPAN.sub(r"\1", text))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _truncate(plain(text), limit) or " ", "emoji": False}


def _pieces(line: str, limit: int) -> Iterator[str]:
    """One raw line as escaped pieces of at most ``limit`` characters, split at spaces when it
    can be (escaping lengthens text, so the raw pieces shrink until every escaped one fits)."""
    escaped = mrkdwn(line)
    if len(escaped) <= limit:
        yield escaped
        return
    size = limit
    while True:
        raw = _split_words(line, size)
        escaped = [mrkdwn(piece) for piece in raw]
        if all(len(piece) <= limit for piece in escaped):
            yield from escaped
            return
        size = max(size // 2, 1)


def _split_words(line: str, size: int) -> list[str]:
    pieces: list[str] = []
    while len(line) > size:
        cut = line.rfind(" ", 0, size + 1)
        if cut <= 0:
            cut = size
        pieces.append(line[:cut])
        line = line[cut:].lstrip(" ")
    if line:
        pieces.append(line)
    return pieces


def chunks(lines: list[str], limit: int = MAX_TEXT) -> list[str]:
    """Raw lines escaped and packed into texts of at most ``limit`` characters."""
    texts: list[str] = []
    current = ""
    for line in lines:
        for piece in _pieces(line, limit):
            if current and len(current) + 1 + len(piece) > limit:
                texts.append(current)
                current = ""
            current = f"{current}\n{piece}" if current else piece
    if current:
        texts.append(current)
    return texts


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _paragraph(paragraph: Paragraph) -> list[Block]:
    text = paragraph.text
    if not text.strip():
        return []
    if paragraph.tone is Tone.MUTED:
        elements = [{"type": "mrkdwn", "text": part} for part in chunks(text.split("\n"))]
        return [
            {"type": "context", "elements": elements[start : start + MAX_CONTEXT_ELEMENTS]}
            for start in range(0, len(elements), MAX_CONTEXT_ELEMENTS)
        ]
    parts = chunks(text.split("\n"), MAX_TEXT - len(":warning: "))
    if paragraph.tone is Tone.WARNING:
        parts = [f":warning: {part}" for part in parts]
    return [_section(part) for part in parts]


def _fact(label: str, value: str) -> dict[str, Any]:
    head = f"*{mrkdwn(label)}*" if label.strip() else ""
    body = mrkdwn(value) if value.strip() else "-"
    text = f"{head}\n{body}" if head else body
    return {"type": "mrkdwn", "text": _truncate(text, MAX_FIELD_TEXT)}


def _facts(facts: Facts) -> list[Block]:
    fields = [_fact(label, value) for label, value in facts.items]
    return [
        {"type": "section", "fields": fields[start : start + MAX_FIELDS]}
        for start in range(0, len(fields), MAX_FIELDS)
    ]


def _bullets(bullets: BulletList) -> list[Block]:
    lines = [f"• {item}" for item in bullets.items]
    return [_section(text) for text in chunks(lines)]


def _actions(actions: Actions, first: int) -> list[Block]:
    elements: list[dict[str, Any]] = []
    for number, button in enumerate(actions.buttons, start=first):
        element: dict[str, Any] = {
            "type": "button",
            "text": _plain_text(button.label, MAX_BUTTON_LABEL),
        }
        if button.url:
            # Slack opens the link and still sends a block action, which the edge only acks.
            element.update(action_id=f"link:{number}", url=button.url[:MAX_URL])
        else:
            element.update(action_id=f"cmd:{number}", value=button.command[:MAX_BUTTON_VALUE])
        if button.style is not ButtonStyle.DEFAULT:
            element["style"] = button.style.value
        elements.append(element)
    return [
        {"type": "actions", "elements": elements[start : start + MAX_BUTTONS]}
        for start in range(0, len(elements), MAX_BUTTONS)
    ]


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain_text(label, MAX_OPTION_TEXT), "value": value[:MAX_OPTION_VALUE]}


def _choice(choice: ChoiceInput) -> list[Block]:
    options = [_option(value, label) for value, label in choice.options[:MAX_SELECT_OPTIONS]]
    if not options:
        return []
    element: dict[str, Any] = {
        "type": "radio_buttons" if len(options) <= MAX_RADIO_OPTIONS else "static_select",
        "action_id": choice.name[:MAX_ID],
        "options": options,
    }
    if element["type"] == "static_select":
        element["placeholder"] = _plain_text("Choose one", MAX_PLACEHOLDER)
    values = [value for value, _ in choice.options[:MAX_SELECT_OPTIONS]]
    if choice.value in values:
        # Slack wants the very option object (text and value) it is offered.
        element["initial_option"] = options[values.index(choice.value)]
    return [_input(choice.name, choice.label, element)]


def _text_input(field: TextInput) -> list[Block]:
    limit = max(1, min(field.max_length, MAX_INPUT_LENGTH))
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": field.name[:MAX_ID],
        "multiline": field.multiline,
        "max_length": limit,
    }
    if field.value:
        element["initial_value"] = field.value[:limit]
    if field.placeholder.strip():
        element["placeholder"] = _plain_text(field.placeholder, MAX_PLACEHOLDER)
    # Members may leave a reflection prompt empty.
    return [_input(field.name, field.label, element, optional=True)]


def _input(name: str, label: str, element: dict[str, Any], *, optional: bool = False) -> Block:
    block: Block = {
        "type": "input",
        "block_id": f"in:{name}"[:MAX_ID],
        "label": _plain_text(label, MAX_LABEL),
        "element": element,
    }
    if optional:
        block["optional"] = True
    return block


def _image(image: Image) -> list[Block]:
    title = image.title.strip() or image.alt.strip() or "chart"
    return [_section(f":bar_chart: {mrkdwn(_truncate(title, 200))} (the chart is sent as a file)")]


def images_of(view: View) -> tuple[Image, ...]:
    """The pictures to upload after the message: Block Kit cannot carry them inline."""
    return tuple(block for block in view.blocks if isinstance(block, Image) and block.data)


def render_blocks(view: View) -> list[Block]:
    """The view as Block Kit blocks; every button's action_id is unique in the message
    (``cmd:<n>``, or ``link:<n>`` for a link) and its value is the command it runs."""
    blocks: list[Block] = []
    buttons = 0
    for block in view.blocks:
        match block:
            case Heading(text=text):
                if text.strip():
                    blocks.append({"type": "header", "text": _plain_text(text, MAX_HEADER)})
            case Paragraph():
                blocks += _paragraph(block)
            case Facts():
                blocks += _facts(block)
            case BulletList():
                blocks += _bullets(block)
            case ChoiceInput():
                blocks += _choice(block)
            case TextInput():
                blocks += _text_input(block)
            case Image():
                blocks += _image(block)
            case Actions(buttons=found):
                blocks += _actions(block, buttons)
                buttons += len(found)
    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - (MAX_BLOCKS - 1)
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{ELLIPSIS} ({left_out} more not shown)"}],
            }
        )
    return blocks


def render_fallback(view: View) -> str:
    """The message's ``text``: what notifications and clients without blocks show."""
    return _truncate(mrkdwn(view.summary or render_text(view)), MAX_FALLBACK) or " "


MAX_MODAL_TITLE = 24
MAX_METADATA = 3000


def render_modal(view: View, *, callback_id: str, private_metadata: str) -> dict[str, Any]:
    """A form view as a modal (views.open): its heading is the title, its first button the
    submit, its inputs the blocks. ``private_metadata`` comes back with the view_submission."""
    title = next((b.text for b in view.blocks if isinstance(b, Heading)), "") or "partnerbot"
    submit = next(
        (
            button.label
            for block in view.blocks
            if isinstance(block, Actions)
            for button in block.buttons
            if not button.url
        ),
        "Save",
    )
    body = View(view.summary, tuple(b for b in view.blocks if not isinstance(b, Heading | Actions)))
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain_text(title, MAX_MODAL_TITLE),
        "submit": _plain_text(submit, MAX_MODAL_TITLE),
        "close": _plain_text("Cancel", MAX_MODAL_TITLE),
        "blocks": render_blocks(body),
        "private_metadata": private_metadata[:MAX_METADATA],
    }


def form_command(view: View) -> str | None:
    """The command a form's submit runs: its first button's."""
    for block in view.blocks:
        if isinstance(block, Actions):
            for button in block.buttons:
                if not button.url:
                    return button.command
    return None
