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
    view_from_dict,
    view_to_dict,
)


def test_every_block_survives_the_outbox_json_round_trip():
    view = View(
        summary="Question 1 of 4",
        blocks=(
            Heading("QI 3.2"),
            Paragraph("How well do we *actively* seek out partnerships?", Tone.STRONG),
            Facts((("Closes", "31 March"),)),
            BulletList(("one", "two")),
            ChoiceInput(
                "rating",
                "Your rating",
                (("6", "6 excellent"), ("1", "1 unsatisfactory")),
                value="6",
            ),
            TextInput(
                "working_well",
                "What is working well?",
                value="Joint planning",
                placeholder="e.g. shared Terms of Reference",
            ),
            Image("Ratings by area", "bar chart", b"\x89PNG\r\n\x1a\n"),
            Actions(
                (
                    Button("Save and next", "checkin answer 1 1", ButtonStyle.PRIMARY),
                    Button("Open report", "", url="https://example.org/r.docx"),
                )
            ),
        ),
    )
    assert view_from_dict(view_to_dict(view)) == view
