"""Neutral views rendered for Teams: Adaptive Cards and plain messages that show what was typed."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest

from bot.teams_cards import (
    ADAPTIVE_CARD,
    CARD_SCHEMA,
    escape_card_text,
    escape_message_text,
    render_activity,
    render_card,
)
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

HOSTILE = [
    "*bold* [link](http://x) # h",
    "# not a heading",
    "- not a list\n+ nor this\n1. nor this\n2) nor this",
    "> not a quote",
    "_italic_ ~~struck~~ **strong** \\backslash\\",
    "Heading\n===",
    "![image](http://x/y.png)",
]

# CommonMark: a backslash before ASCII punctuation shows that character literally.
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """What a CommonMark renderer displays for text with no markup left but escapes."""
    return html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", markdown))


def test_hostile_text_in_a_card_is_escaped_character_by_character():
    assert escape_card_text("*bold* [link](http://x) # h") == r"\*bold\* \[link\](http://x) # h"


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_text_shows_literally_in_cards_and_messages(typed):
    for escaped in (escape_card_text(typed), escape_message_text(typed)):
        assert shown(escaped) == typed
        unescaped = _BACKSLASH_ESCAPE.sub("", escaped)
        assert not re.search(r"[*_\[\]~`]", unescaped), escaped
        assert not re.search(r"(?m)^\s*([#>+=-]|\d+[.)]\s)", escaped), escaped


def test_code_spans_stay_code_and_their_text_stays_as_typed():
    typed = "Tell me your area with `me area <area>`, or type `help`."
    assert escape_card_text(typed) == typed
    assert escape_message_text(typed) == typed


def test_messages_turn_angle_brackets_outside_code_into_entities():
    # Teams reads <area> in a text message as an HTML tag and would hide it.
    escaped = escape_message_text("a & b <c> and `d <e>`")
    assert escaped == "a &amp; b &lt;c&gt; and `d <e>`"


def test_a_line_after_a_code_span_is_still_escaped_at_its_start():
    assert escape_message_text("run `help`\n- then this") == "run `help`\n\\- then this"
    assert escape_card_text("run `help` - now") == "run `help` - now"


def test_a_view_of_one_paragraph_is_a_plain_text_message():
    activity = render_activity(View("Saved.", (Paragraph("You're now in *Marr*.", Tone.GOOD),)))

    assert activity.type == "message"
    assert activity.text == r"You're now in \*Marr\*."
    assert activity.text_format == "markdown"
    assert not activity.attachments


def test_any_other_view_is_an_adaptive_card_with_its_summary():
    view = View(
        summary="Your profile: Area Marr",
        blocks=(
            Heading("Your [profile]"),
            Paragraph("Plain"),
            Paragraph("Quiet", Tone.MUTED),
            Paragraph("Careful", Tone.WARNING),
            Paragraph("Done", Tone.GOOD),
            Paragraph("Loud", Tone.STRONG),
            Facts((("Area", "Marr_North"), ("Roles", "member, coordinator"))),
            BulletList(("one *star*", "1. numbered", "two\nlines")),
            Actions(
                (
                    Button("Help", "help"),
                    Button("Join", "me area Marr", ButtonStyle.PRIMARY),
                    Button("Erase", "mydata delete", ButtonStyle.DANGER),
                )
            ),
        ),
    )

    activity = render_activity(view)

    assert activity.summary == "Your profile: Area Marr"
    [attachment] = activity.attachments
    assert attachment.content_type == ADAPTIVE_CARD
    card = attachment.content
    assert card["$schema"] == CARD_SCHEMA
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    heading, plain, muted, warning, good, strong, facts, bullets, actions = card["body"]
    assert heading == {
        "type": "TextBlock",
        "text": r"Your \[profile\]",
        "wrap": True,
        "weight": "Bolder",
        "size": "Medium",
    }
    assert plain == {"type": "TextBlock", "text": "Plain", "wrap": True}
    assert muted["isSubtle"] is True
    assert warning["color"] == "Warning"
    assert good["color"] == "Good"
    assert strong["weight"] == "Bolder"
    assert facts == {
        "type": "FactSet",
        "facts": [
            {"title": "Area", "value": r"Marr\_North"},
            {"title": "Roles", "value": "member, coordinator"},
        ],
    }
    assert bullets["text"] == "- one \\*star\\*\n- 1\\. numbered\n- two lines"
    assert actions == {
        "type": "ActionSet",
        "actions": [
            {"type": "Action.Submit", "title": "Help", "data": {"command": "help"}},
            {
                "type": "Action.Submit",
                "title": "Join",
                "data": {"command": "me area Marr"},
                "style": "positive",
            },
            {
                "type": "Action.Submit",
                "title": "Erase",
                "data": {"command": "mydata delete"},
                "style": "destructive",
            },
        ],
    }


def test_a_view_with_no_blocks_shows_its_summary():
    card = render_card(View("Nothing to show [yet]"))
    assert card["body"] == [{"type": "TextBlock", "text": r"Nothing to show \[yet\]", "wrap": True}]


SCALE = (
    ("6", "6 excellent"),
    ("5", "5 very good"),
    ("4", "4 good"),
    ("3", "3 satisfactory"),
    ("2", "2 weak"),
    ("1", "1 unsatisfactory"),
)
HOSTILE_LABEL = "*x* <!channel> [y](http://z)"
# The 8-byte PNG signature and an IHDR start: enough to check the bytes travel unchanged.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def test_a_choice_is_a_choice_set_named_for_the_form_with_its_value_chosen():
    card = render_card(View("Rate", (ChoiceInput("rating", HOSTILE_LABEL, SCALE, value="4"),)))

    assert card["body"] == [
        {
            "type": "Input.ChoiceSet",
            "id": "rating",
            # Labels and choice titles are plain text in Adaptive Cards: left exactly as typed.
            "label": HOSTILE_LABEL,
            "style": "expanded",
            "isMultiSelect": False,
            "choices": [{"title": label, "value": value} for value, label in SCALE],
            "value": "4",
        }
    ]


def test_more_than_seven_choices_are_compact_and_no_value_means_none_chosen():
    options = tuple((str(i), f"Area {i}") for i in range(8))
    (element,) = render_card(View("Pick", (ChoiceInput("area", "Area", options),)))["body"]
    assert element["style"] == "compact"
    assert "value" not in element
    (seven,) = render_card(View("Pick", (ChoiceInput("area", "Area", options[:7]),)))["body"]
    assert seven["style"] == "expanded"


def test_a_text_input_has_its_label_limits_placeholder_and_value():
    view = View(
        "Reflect",
        (
            TextInput(
                "working_well",
                HOSTILE_LABEL,
                value="Joint *planning*",
                max_length=500,
                placeholder="e.g. shared <training>",
            ),
            TextInput("evidence", "How do you know?", multiline=False),
        ),
    )

    first, second = render_card(view)["body"]

    assert first == {
        "type": "Input.Text",
        "id": "working_well",
        "label": HOSTILE_LABEL,
        "isMultiline": True,
        "maxLength": 500,
        "placeholder": "e.g. shared <training>",
        "value": "Joint *planning*",
    }
    assert second == {
        "type": "Input.Text",
        "id": "evidence",
        "label": "How do you know?",
        "isMultiline": False,
        "maxLength": 3000,
    }


def test_a_chart_is_an_image_attachment_of_the_message_and_its_card_keeps_the_title():
    view = View(
        "Chart",
        (
            Image("Ratings *by area*", "Bar chart of ratings", PNG),
            Paragraph("chart.png is ready."),
        ),
    )

    card, picture = render_activity(view).attachments

    assert card.content_type == ADAPTIVE_CARD
    assert card.content["body"] == [
        {"type": "TextBlock", "text": r"Ratings \*by area\*", "wrap": True, "weight": "Bolder"},
        {"type": "TextBlock", "text": "chart.png is ready.", "wrap": True},
    ]
    # No data URI inside the card: Teams clients do not reliably show one there.
    assert "data:" not in json.dumps(card.content)
    assert picture.content_type == "image/png"
    assert picture.name == "ratings-by-area.png"
    prefix = "data:image/png;base64,"
    assert picture.content_url.startswith(prefix)
    assert base64.b64decode(picture.content_url.removeprefix(prefix)) == PNG


def test_a_chart_alone_is_a_text_message_with_the_image_attached():
    activity = render_activity(View("Chart", (Image("Ratings by area", "Bar chart", PNG),)))

    assert activity.text == "Ratings by area"
    (picture,) = activity.attachments
    assert (picture.content_type, picture.name) == ("image/png", "ratings-by-area.png")


def test_a_link_button_opens_its_url_beside_submit_buttons():
    view = View(
        "Links",
        (
            Actions(
                (
                    Button("Open report", "", ButtonStyle.PRIMARY, url="https://example.org/r"),
                    Button("Save", "checkin save"),
                )
            ),
        ),
    )

    (actions,) = render_card(view)["body"]

    assert actions["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open report",
            "url": "https://example.org/r",
            "style": "positive",
        },
        {"type": "Action.Submit", "title": "Save", "data": {"command": "checkin save"}},
    ]


def test_a_view_with_inputs_is_always_a_card():
    for block in (ChoiceInput("rating", "Rating", SCALE), TextInput("notes", "Notes")):
        activity = render_activity(View("Check-in", (Paragraph("Question 1"), block)))
        assert activity.attachments, block
        activity = render_activity(View("Check-in", (block,)))
        assert activity.attachments and activity.attachments[0].content_type == ADAPTIVE_CARD
