"""Hostile text shown back, as properties (hypothesis): whatever a member wrote, put into a
neutral view, comes out of the Block Kit renderer with ``&``, ``<`` and ``>`` escaped (no
``<!channel>``, ``<@U…>`` or ``<http…|label>`` of theirs) and within Slack's limits, and out of
the Adaptive Card renderer with no markdown link or image of theirs and under Teams' size."""

from __future__ import annotations

import json
import re

from hypothesis import example, given
from hypothesis import strategies as st

from bot.render_text import render_text
from bot.slack_blocks import ZWSP, render_blocks, render_fallback
from bot.teams_cards import MAX_CARD_BYTES, card_size, escape_card_text, render_card
from dialogs.core import usage_reply
from dialogs.parser import UsageError, parse
from dialogs.views import (
    Actions,
    BulletList,
    Button,
    Facts,
    Heading,
    Paragraph,
    Tone,
    View,
    as_typed,
)

NASTY = [
    "<!channel>",
    "<!here|here>",
    "<@U123>",
    "<#C123|general>",
    "<https://evil.example|Click me>",
    "`<!channel>`",
    "`[x](https://evil.example)`",
    "[click](https://evil.example)",
    "![img](https://evil.example/a.png)",
    "&lt;!channel&gt;",
    "*bold* _it_ ~s~ > quote",
    "https://ok.example/path_(x)",
    "\\[x](y)",
]
member_text = st.one_of(
    st.sampled_from(NASTY),
    st.lists(st.sampled_from([*NASTY, " ", "\n", "`", "&", "<", ">", "|", "[", "]", "(", ")"])).map(
        "".join
    ),
    st.text(max_size=200),
    st.integers(1, 20_000).map(lambda n: ("<!channel> é" * n)[:n]),
)


def views(text: str) -> list[View]:
    return [
        View(text, (Paragraph(text),)),
        View(text, (Heading(text), Paragraph(text, Tone.WARNING), Paragraph(text, Tone.MUTED))),
        View(text, (Facts(((text, text), ("Area", text))), BulletList((text, text)))),
        View(text, (Paragraph(text), Actions((Button(text, "help"), Button(text, text))))),
        View(text, tuple(Paragraph(f"{n} {text}") for n in range(60))),
    ]


# What the renderer itself writes in mrkdwn between < and >: a link to a URL it found, no label.
_OWN_LINK = re.compile(r"<https?://[^\s<>|`]+>")


def mrkdwn_texts(blocks: list[dict]) -> list[str]:
    found = []
    for block in blocks:
        texts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        for item in texts:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                found.append(item["text"])
    return found


@given(member_text)
@example("<!channel> & <@U1> <https://evil.example|Click>")
def test_block_kit_escapes_member_text_and_keeps_slacks_limits(text):
    for view in views(text):
        blocks = render_blocks(view)
        assert len(blocks) <= 50
        for mrkdwn in [*mrkdwn_texts(blocks), render_fallback(view)]:
            rest = _OWN_LINK.sub("", mrkdwn)
            assert "<" not in rest and ">" not in rest, mrkdwn
            assert not re.search(r"&(?!amp;|lt;|gt;)", rest), mrkdwn
        for block in blocks:
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= 3000
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
            if block["type"] == "actions":
                assert len(block["elements"]) <= 25
                assert all(len(e["text"]["text"]) <= 75 for e in block["elements"])
                assert all(len(e.get("value", "")) <= 2000 for e in block["elements"])
        assert len(render_fallback(view)) <= 3000


# A markdown link or image: [label](target), whose brackets no backslash escapes.
_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(")


@given(member_text)
@example("`[x](https://evil.example)`")
@example("`![i](https://evil.example/a.png)`")
def test_adaptive_card_text_cannot_make_a_link_and_the_card_stays_under_teams_limit(text):
    assert not _LINK.search(escape_card_text(text))
    for view in views(text):
        card = render_card(view)
        assert card_size(card) <= MAX_CARD_BYTES
        for element in card["body"]:
            if element["type"] == "TextBlock":
                assert not _LINK.search(element["text"]), element["text"]
            for fact in element.get("facts", ()):
                assert not _LINK.search(fact["title"] + fact["value"])


@given(st.text(min_size=1, max_size=300))
@example("`[x](https://evil.example)`")
def test_a_usage_answer_quoting_the_member_is_escaped_on_both_platforms(text):
    try:
        parse(text)
    except UsageError as error:
        view = usage_reply(error).view
    else:
        return
    card = render_card(view)
    assert not any(_LINK.search(e.get("text", "")) for e in card["body"])
    for mrkdwn in mrkdwn_texts(render_blocks(view)):
        assert "<" not in _OWN_LINK.sub("", mrkdwn)


def test_a_link_in_a_quoted_code_span_is_broken_in_a_card():
    # "I don't know the command `[x](https://evil.example)`": cards show code spans as typed.
    card = render_card(usage_reply(UsageError("`[x](https://evil.example)`")).view)
    assert card["body"][0]["text"] == "Sorry, `[x]\u200b(https://evil.example)`"


def test_a_huge_card_is_cut_to_fit_and_says_so():
    text = "A long reflection. " * 3000
    card = render_card(View("report", tuple(Paragraph(text) for _ in range(5))))
    assert card_size(card) <= MAX_CARD_BYTES
    assert card["body"][-1]["text"].endswith("more not shown)")
    assert len(json.dumps(card)) < 28_000


# A backtick with an even number of backslashes before it is markdown's, not text.
_UNESCAPED_BACKTICK = re.compile(r"(?<!\\)(?:\\\\)*`")
_UNFENCED_BACKTICK = re.compile(f"(?<!{ZWSP})`|`(?!{ZWSP})")


@given(member_text)
@example("`like this`")
@example("Use `practice recent` and \\`x\\`")
@example("\u2060`joined\u2060` https://example.org/x`y")
def test_backticks_someone_typed_never_make_code_on_either_platform(text):
    typed = as_typed(text)
    views_of_it = [
        View(typed, (Heading(typed), Paragraph(typed), Facts((("Title", typed),)))),
        View(typed, (BulletList((typed,)), Paragraph(f"#1 {typed}", Tone.MUTED))),
    ]
    # (A word joiner typed before a backtick is the mark itself, and shows as nothing anyway.)
    assert render_text(View("s", (Paragraph(typed),))) == text.replace("\u2060`", "`")
    for view in views_of_it:
        for mrkdwn in [*mrkdwn_texts(render_blocks(view)), render_fallback(view)]:
            # (A text cut to Slack's limit may end on a lone backtick: nothing closes it.)
            assert not _UNFENCED_BACKTICK.search(re.sub("`?…$", "", mrkdwn)), mrkdwn
            assert "\u2060`" not in mrkdwn
        for element in render_card(view)["body"]:
            for shown_text in [element.get("text", "")] + [
                f["value"] for f in element.get("facts", ())
            ]:
                assert not _UNESCAPED_BACKTICK.search(shown_text), shown_text
                assert "\u2060`" not in shown_text
