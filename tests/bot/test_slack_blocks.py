"""Neutral views as Block Kit: literal text, Slack's limits respected."""

from __future__ import annotations

import re
from typing import Any

from bot.render_text import render_text
from bot.slack_blocks import images_of, mrkdwn, render_blocks, render_fallback
from dialogs.views import (
    Actions,
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
)

HOSTILE = "*bold* <!channel> <@U1> & ~x~ _i_ :smile:"
ZWSP = "\u200b"


_BARE_LINK = re.compile(r"<(https?://[^<>|\s]+)>")
_ENTITIES_ONLY = re.compile(r"(?:[^&<>]|&(?:amp|lt|gt);)*", re.DOTALL)


def _literal(piece: str) -> str:
    # Nothing Slack would act on: no raw < or > (a mention, <!channel>, a labelled link), and
    # & only as one of the three entities mrkdwn has.
    assert _ENTITIES_ONLY.fullmatch(piece), f"Slack would not show this literally: {piece!r}"
    return piece.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def visible(text: str) -> str:
    """What Slack shows for mrkdwn, strictly: the only control sequence allowed is a bare web
    address in angle brackets, which Slack shows as the address itself; anything else in < >
    fails the test. Zero-width spaces are invisible."""
    shown, position = [], 0
    for link in _BARE_LINK.finditer(text):
        shown += [_literal(text[position : link.start()]), _literal(link.group(1))]
        position = link.end()
    shown.append(_literal(text[position:]))
    return "".join(shown).replace(ZWSP, "")


def check_limits(blocks: list[dict[str, Any]]) -> None:
    """Slack's documented limits for the blocks we make."""
    assert 0 < len(blocks) <= 50
    for block in blocks:
        match block["type"]:
            case "header":
                assert block["text"]["type"] == "plain_text"
                assert 0 < len(block["text"]["text"]) <= 150
            case "section" if "fields" in block:
                assert 0 < len(block["fields"]) <= 10
                assert all(0 < len(field["text"]) <= 2000 for field in block["fields"])
            case "section":
                assert 0 < len(block["text"]["text"]) <= 3000
            case "context":
                assert 0 < len(block["elements"]) <= 10
                assert all(0 < len(item["text"]) <= 3000 for item in block["elements"])
            case "actions":
                assert 0 < len(block["elements"]) <= 25
                for button in block["elements"]:
                    assert 0 < len(button["text"]["text"]) <= 75
                    assert len(button.get("value", "")) <= 2000
                    assert len(button.get("url", "")) <= 3000
                    assert ("value" in button) != ("url" in button)
            case "input":
                assert len(block["block_id"]) <= 255
                assert block["label"]["type"] == "plain_text"
                assert 0 < len(block["label"]["text"]) <= 2000
                element = block["element"]
                assert 0 < len(element["action_id"]) <= 255
                if "placeholder" in element:
                    assert 0 < len(element["placeholder"]["text"]) <= 150
                if element["type"] == "plain_text_input":
                    assert 0 < element["max_length"] <= 3000
                    assert len(element.get("initial_value", "")) <= element["max_length"]
                else:
                    limit = 10 if element["type"] == "radio_buttons" else 100
                    assert 0 < len(element["options"]) <= limit
                    for option in element["options"]:
                        assert option["text"]["type"] == "plain_text"
                        assert 0 < len(option["text"]["text"]) <= 75
                        assert 0 < len(option["value"]) <= 150
                    if "initial_option" in element:
                        assert element["initial_option"] in element["options"]
            case other:
                raise AssertionError(f"unexpected block {other}")


def test_hostile_text_is_shown_literally_and_cannot_ping_or_format():
    view = View(
        summary=HOSTILE,
        blocks=(
            Heading(HOSTILE),
            Paragraph(HOSTILE),
            Facts(((HOSTILE, HOSTILE),)),
            BulletList((HOSTILE,)),
            Paragraph(HOSTILE, Tone.MUTED),
        ),
    )

    header, section, facts, bullets, context = render_blocks(view)

    assert header["text"] == {"type": "plain_text", "text": HOSTILE, "emoji": False}
    for text in (
        section["text"]["text"],
        bullets["text"]["text"].removeprefix("• "),
        context["elements"][0]["text"],
        render_fallback(view),
    ):
        assert visible(text) == HOSTILE
        # No raw control sequence survives, and every formatting character is fenced.
        assert "<" not in text and ">" not in text
        assert "&amp;" in text
        for mark in "*_~":
            assert mark + mark not in text
            assert all(
                text[i - 1] == ZWSP and text[i + 1] == ZWSP
                for i, char in enumerate(text)
                if char == mark
            )
        assert ":" + ZWSP + "smile:" in text
    label, value = facts["fields"][0]["text"].split("\n")
    assert label.startswith("*") and label.endswith("*")  # our own bold for the label
    assert visible(label[1:-1]) == HOSTILE and visible(value) == HOSTILE


def test_code_spans_stay_code():
    text = "Type `role <@member> coordinator` or *ask*"
    assert mrkdwn(text) == (
        f"Type `role &lt;@member&gt; coordinator` or {ZWSP}*{ZWSP}ask{ZWSP}*{ZWSP}"
    )
    # A heading is plain text: the backticks go, the words stay.
    (header,) = render_blocks(View("h", (Heading("Help: `checkin`"),)))
    assert header["text"]["text"] == "Help: checkin"


def test_a_web_address_stays_a_working_link():
    url = "https://bot.example.org/exports/IVytL_lUJC8_wy-Spj8*x?a=1&b=2"
    assert mrkdwn(f"Report: {url}. Or ask _again_") == (
        "Report: <https://bot.example.org/exports/IVytL_lUJC8_wy-Spj8*x?a=1&amp;b=2>. "
        f"Or ask {ZWSP}_{ZWSP}again{ZWSP}_{ZWSP}"
    )
    # Member text that only looks like an address is still escaped where it isn't one.
    assert mrkdwn("see <https://x.org|click>") == "see &lt;<https://x.org>|click&gt;"
    assert visible(mrkdwn("see <https://x.org|click>")) == "see <https://x.org|click>"


def test_a_line_starting_with_a_quote_mark_is_not_a_quote():
    (section,) = render_blocks(View("q", (Paragraph("> not a quote\n> nor this"),)))
    assert section["text"]["text"] == f"{ZWSP}&gt; not a quote\n{ZWSP}&gt; nor this"


def test_tones():
    blocks = render_blocks(
        View(
            "t",
            (
                Paragraph("careful", Tone.WARNING),
                Paragraph("aside", Tone.MUTED),
                Paragraph("done", Tone.GOOD),
            ),
        )
    )
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": ":warning: careful"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "aside"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "done"}},
    ]


def test_buttons_carry_their_commands_with_unique_action_ids():
    view = View(
        "b",
        (
            Actions((Button("Yes", "rsvp 3 yes", ButtonStyle.PRIMARY), Button("No", "rsvp 3 no"))),
            Paragraph("between"),
            Actions((Button("Delete", "mydata delete", ButtonStyle.DANGER),)),
        ),
    )
    first, _, second = render_blocks(view)
    assert first["elements"] == [
        {
            "type": "button",
            "action_id": "cmd:0",
            "text": {"type": "plain_text", "text": "Yes", "emoji": False},
            "value": "rsvp 3 yes",
            "style": "primary",
        },
        {
            "type": "button",
            "action_id": "cmd:1",
            "text": {"type": "plain_text", "text": "No", "emoji": False},
            "value": "rsvp 3 no",
        },
    ]
    assert second["elements"][0]["action_id"] == "cmd:2"
    assert second["elements"][0]["style"] == "danger"


def test_long_paragraphs_and_lists_are_split_within_the_limits():
    long_paragraph = " ".join(f"word{i} & <x>" for i in range(1500))  # ~22k escaped
    unbroken = "&" * 7000  # one "word", five times longer escaped
    bullets = tuple(f"item {i} " + "y" * 90 for i in range(200))
    blocks = render_blocks(
        View("l", (Paragraph(long_paragraph), Paragraph(unbroken), BulletList(bullets)))
    )

    check_limits(blocks)
    texts = [block["text"]["text"] for block in blocks]
    joined = " ".join(" ".join(visible(text).split()) for text in texts)
    assert long_paragraph in joined
    assert sum(visible(text).count("&") for text in texts) == 1500 + 7000
    shown_items = [line for text in texts for line in text.split("\n") if line.startswith("• ")]
    assert [line.removeprefix("• ") for line in shown_items] == list(bullets)


def test_facts_are_at_most_ten_per_section():
    items = tuple((f"Label {i}", f"value {i}") for i in range(23))
    blocks = render_blocks(View("f", (Facts(items), Facts((("Note", "x" * 5000),)))))

    check_limits(blocks)
    assert [len(block["fields"]) for block in blocks] == [10, 10, 3, 1]
    assert blocks[0]["fields"][0]["text"] == "*Label 0*\nvalue 0"
    assert blocks[-1]["fields"][0]["text"].endswith("…")


def test_many_buttons_are_split_into_actions_blocks_of_25():
    buttons = tuple(Button(f"Meeting {i}", f"meeting {i}") for i in range(30))
    blocks = render_blocks(View("m", (Actions(buttons),)))

    check_limits(blocks)
    assert [len(block["elements"]) for block in blocks] == [25, 5]
    ids = [element["action_id"] for block in blocks for element in block["elements"]]
    assert len(set(ids)) == 30


def test_long_header_and_label_are_truncated():
    blocks = render_blocks(View("h", (Heading("H" * 200), Actions((Button("L" * 100, "help"),)))))
    check_limits(blocks)
    assert blocks[0]["text"]["text"] == "H" * 149 + "…"
    assert blocks[1]["elements"][0]["text"]["text"] == "L" * 74 + "…"


def test_at_most_fifty_blocks_saying_what_was_left_out():
    blocks = render_blocks(View("p", tuple(Paragraph(f"p{i}") for i in range(70))))

    check_limits(blocks)
    assert len(blocks) == 50
    assert blocks[48]["text"]["text"] == "p48"
    assert blocks[49] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "… (21 more not shown)"}],
    }


def test_empty_text_makes_no_empty_block():
    assert render_blocks(View("e", (Heading(" "), Paragraph(""), BulletList(())))) == []
    assert render_fallback(View("")) == " "


def test_fallback_is_the_escaped_summary_capped():
    assert render_fallback(View("3 areas: <North> & South")) == "3 areas: &lt;North&gt; &amp; South"
    assert len(render_fallback(View("z" * 5000))) == 3000


SCALE = (
    ("6", "6 excellent"),
    ("5", "5 very good"),
    ("4", "4 good"),
    ("3", "3 satisfactory"),
    ("2", "2 weak"),
    ("1", "1 unsatisfactory"),
)


def test_a_choice_is_an_input_block_of_radio_buttons_named_for_the_form():
    view = View("Rate", (ChoiceInput("rating", HOSTILE, SCALE, value="4"),))

    (block,) = render_blocks(view)

    check_limits([block])
    # block_id and action_id carry the input's name: state.values reads back as the view named it.
    assert block["block_id"] == "in:rating"
    # A label is plain text: shown as typed, never formatted, never a ping.
    assert block["label"] == {"type": "plain_text", "text": HOSTILE, "emoji": False}
    element = block["element"]
    assert element["type"] == "radio_buttons"
    assert element["action_id"] == "rating"
    assert [(o["value"], o["text"]["text"]) for o in element["options"]] == list(SCALE)
    assert element["initial_option"] == {
        "text": {"type": "plain_text", "text": "4 good", "emoji": False},
        "value": "4",
    }
    assert "optional" not in block


def test_a_choice_without_a_value_has_no_initial_option():
    (block,) = render_blocks(View("Rate", (ChoiceInput("rating", "Rating", SCALE),)))
    assert "initial_option" not in block["element"]


def test_many_choices_are_a_select_and_long_options_are_cut_to_slacks_limits():
    options = tuple((f"v{i}-" + "x" * 200, f"Option {i} " + "*y* " * 40) for i in range(12))
    view = View("Pick", (ChoiceInput("area", "Area " + "z" * 2500, options, value=options[3][0]),))

    (block,) = render_blocks(view)

    check_limits([block])
    element = block["element"]
    assert element["type"] == "static_select"
    assert element["placeholder"]["type"] == "plain_text"
    assert len(element["options"]) == 12
    assert element["options"][0]["text"]["text"].endswith("…")
    assert element["initial_option"] == element["options"][3]
    assert block["label"]["text"].endswith("…")


def test_a_text_input_is_optional_with_its_limits_and_current_value():
    field = TextInput(
        "working_well",
        "What is working well? <!channel>",
        value="Joint *planning*",
        max_length=500,
        placeholder="e.g. " + "p" * 300,
    )

    (block,) = render_blocks(View("Reflect", (field,)))

    check_limits([block])
    assert block["block_id"] == "in:working_well"
    assert block["optional"] is True
    assert block["label"]["text"] == "What is working well? <!channel>"
    assert block["element"] == {
        "type": "plain_text_input",
        "action_id": "working_well",
        "multiline": True,
        "max_length": 500,
        "initial_value": "Joint *planning*",
        "placeholder": {"type": "plain_text", "text": "e.g. " + "p" * 144 + "…", "emoji": False},
    }


def test_a_text_input_caps_its_length_at_slacks_3000_and_its_value_at_its_length():
    field = TextInput("notes", "Notes", value="n" * 40, multiline=False, max_length=9000)
    (block,) = render_blocks(View("n", (field,)))
    check_limits([block])
    assert block["element"]["max_length"] == 3000
    assert block["element"]["multiline"] is False
    assert "placeholder" not in block["element"]
    short = render_blocks(View("s", (TextInput("short", "Short", "s" * 40, True, 10),)))[0]
    assert short["element"]["initial_value"] == "s" * 10
    empty = render_blocks(View("e", (TextInput("empty", "Empty"),)))[0]
    assert "initial_value" not in empty["element"]


def test_an_image_is_a_line_saying_the_chart_comes_as_a_file():
    chart = Image("Ratings by area *QI 3.2*", "Bar chart of ratings", b"\x89PNG...")
    view = View("Report", (Image("Empty", "no data"), chart))

    blocks = render_blocks(view)

    check_limits(blocks)
    assert [visible(block["text"]["text"]) for block in blocks] == [
        ":bar_chart: Empty (the chart is sent as a file)",
        ":bar_chart: Ratings by area *QI 3.2* (the chart is sent as a file)",
    ]
    assert "*QI" not in blocks[1]["text"]["text"]  # fenced: not bold
    # Only pictures with bytes are uploaded.
    assert images_of(view) == (chart,)


def test_a_link_button_opens_its_url_and_commands_keep_their_numbers():
    view = View(
        "Links",
        (
            Actions(
                (
                    Button("Open the report", "", url="https://example.org/r?a=1&b=<2>"),
                    Button("Help", "help"),
                )
            ),
        ),
    )

    (block,) = render_blocks(view)

    check_limits([block])
    link, command = block["elements"]
    assert link == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open the report", "emoji": False},
        "action_id": "link:0",
        "url": "https://example.org/r?a=1&b=<2>",
    }
    assert (command["action_id"], command["value"]) == ("cmd:1", "help")


def test_inputs_and_images_as_plain_text():
    view = View(
        "Check-in",
        (
            ChoiceInput("rating", "How well does the partnership work?", SCALE[:2], value="6"),
            TextInput("working_well", "What is working well?"),
            TextInput("evidence", "How do you know?", value="Survey"),
            Image("Ratings", "bar chart", b"png"),
            Actions((Button("Save", "checkin save"), Button("Report", "", url="https://x.org/r"))),
        ),
    )

    assert render_text(view).split("\n") == [
        "How well does the partnership work?",
        "  6 = 6 excellent",
        "  5 = 5 very good",
        "What is working well?:",
        "How do you know?: Survey",
        "[chart: Ratings]",
        "  [Save: checkin save]   [Report: https://x.org/r]",
    ]
