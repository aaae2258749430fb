"""The practice library on Slack over real HTTP: `practice share` opens a modal (views.open), its
view_submission saves the record or puts the modal back with the reason; the message shortcut
"Save to practice library" opens the form on a draft made from the message; what a member typed
is shown exactly as typed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.slack_blocks import ZWSP
from storage.models import Meeting, PracticeRecord
from tests.bot.fake_slack import TEAM_ID, FakeSlack
from tests.bot.test_forms import slack_state
from tests.bot.test_slack import ADMIN, button_press, slash
from tests.bot.test_slack_blocks import visible

BEN = "U2"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", BEN: "Ben Ortiz", "U3": "Cara Lewis"})
    await fake.start()
    yield fake
    await fake.close()


def submission(modal: dict[str, Any], typed: dict[str, str | None], *, user: str = ADMIN) -> dict:
    """A view_submission as Slack sends it for ``modal`` filled in with ``typed``."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "partners"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A1",
        "token": "legacy-verification-token",
        "trigger_id": "trigger-submit",
        "view": {
            **modal,
            "id": "V1",
            "team_id": TEAM_ID,
            "hash": f"h-{len(json.dumps(typed))}",
            "state": slack_state(modal["blocks"], typed),
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


def shortcut(fake: FakeSlack, text: str, *, author: str, user: str = BEN) -> dict[str, Any]:
    """A message shortcut (type message_action) on a message in #general."""
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": "1700000500.000001",
        "team": {"id": TEAM_ID, "domain": "partners"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "channel": {"id": "C1", "name": "general"},
        "is_enterprise_install": False,
        "callback_id": "save_to_practice",
        "trigger_id": "trigger-shortcut",
        "response_url": fake.response_url("shortcut"),
        "message_ts": "1700000000.000100",
        "message": {
            "type": "message",
            "user": author,
            "text": text,
            "ts": "1700000000.000100",
            "team": TEAM_ID,
        },
    }


async def saved(store) -> list[PracticeRecord]:
    async with store.unit() as uow:
        return list(await uow.session.scalars(select(PracticeRecord).order_by(PracticeRecord.id)))


def inputs(modal: dict[str, Any]) -> list[str]:
    return [block["element"]["action_id"] for block in modal["blocks"] if block["type"] == "input"]


async def test_practice_share_opens_a_modal_whose_submission_saves_the_record(
    slack, fake_slack, store
):
    await slack.command(slash(fake_slack, "area add Marr", response="r0"))
    await fake_slack.wait_for("response/r0", count=2)

    status, _ = await slack.command(slash(fake_slack, "practice share", response="r1"))

    assert status == 200
    [opened] = await fake_slack.wait_for("views.open")
    assert opened.body["trigger_id"] == "trigger-r1"
    modal = opened.body["view"]
    assert modal["type"] == "modal" and modal["callback_id"] == "partnerbot_form"
    assert modal["title"]["text"] == "Share practice"
    assert modal["submit"]["text"] == "Share"
    assert inputs(modal) == ["title", "text", "kind", "tags", "area", "links", "meeting"]
    assert json.loads(modal["private_metadata"])["command"] == "practice save"

    typed = {
        "title": "Family cooking nights",
        "text": "Parents who never came to a class came to cook.",
        "kind": "story",
        "tags": "engagement, parents",
        "area": "Marr",
        "links": "https://example.org/cooking",
    }
    status, body = await slack.interaction(submission(modal, typed))

    assert (status, body) == (200, "")  # the ack closes the modal
    [posted] = await fake_slack.wait_for("chat.postEphemeral")
    assert (posted.body["channel"], posted.body["user"]) == ("C1", ADMIN)
    assert "Shared practice #1: Family cooking nights." in posted.body["text"]
    [record] = await saved(store)
    assert (record.title, record.kind, record.tag_text, record.links) == (
        "Family cooking nights",
        "story",
        "engagement parents",
        ["https://example.org/cooking"],
    )


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ({"title": "", "text": "Parents came"}, "The title is empty"),
        ({"title": "Cooking", "text": "x" * 3001}, "the most is 3000"),
        ({"title": "Cooking", "text": "Parents", "tags": "cookery"}, "There's no tag `cookery`"),
        ({"title": "Look <!channel>", "text": "Parents came"}, "would notify everyone"),
    ],
)
async def test_a_bad_submission_keeps_the_modal_open_with_the_reason(
    slack, fake_slack, store, typed, reason
):
    await slack.command(slash(fake_slack, "practice share", response="r1"))
    [opened] = await fake_slack.wait_for("views.open")

    status, body = await slack.interaction(submission(opened.body["view"], typed))

    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "update"
    shown = " ".join(
        block["text"]["text"] for block in answer["view"]["blocks"] if block["type"] == "section"
    )
    assert reason in shown
    values = {
        block["element"]["action_id"]: block["element"].get("initial_value")
        for block in answer["view"]["blocks"]
        if block["type"] == "input"
    }
    assert values["title"] == (typed["title"] or None)  # what was typed is still there
    assert await saved(store) == []


async def test_the_message_shortcut_saves_a_draft_and_opens_the_form_on_it(
    slack, fake_slack, store
):
    text = "We ran a drop-in at the school gate &amp; <@U1> met 12 parents"

    status, body = await slack.interaction(shortcut(fake_slack, text, author="U3"))

    assert (status, body) == (200, "")
    [opened] = await fake_slack.wait_for("views.open")
    assert opened.body["trigger_id"] == "trigger-shortcut"
    modal = opened.body["view"]
    initial = {
        block["element"]["action_id"]: block["element"].get("initial_value")
        for block in modal["blocks"]
        if block["type"] == "input"
    }
    assert initial["text"] == "We ran a drop-in at the school gate & @Aisha Khan met 12 parents"
    [draft] = await saved(store)
    assert draft.status == "draft"
    assert draft.source_author == "Cara Lewis"
    assert draft.source_url == "https://partners.slack.com/archives/C1/p1700000000000100"
    assert draft.source_at is not None and draft.source_at.timestamp() == 1700000000.0001
    assert json.loads(modal["private_metadata"])["command"] == f"practice save {draft.id}"

    status, body = await slack.interaction(
        submission(modal, {"title": "School gate drop-in", "tags": "parents"}, user=BEN)
    )

    assert (status, body) == (200, "")
    [posted] = await fake_slack.wait_for("chat.postEphemeral")
    assert posted.body["user"] == BEN
    assert f"Shared practice #{draft.id}: School gate drop-in." in posted.body["text"]
    [record] = await saved(store)
    assert (record.status, record.source_author) == ("published", "Cara Lewis")


async def test_what_was_typed_is_shown_as_typed_in_block_kit(slack, fake_slack, store):
    title = "<b>Hi</b> *bold* <https://evil.example|click> :smile:"
    # (A channel-wide ping is refused outright: test_practice covers that.)
    body = "<script>x</script> see _this_ &amp; <@U2> <https://evil.example|click> *x* ~y~"
    await slack.command(slash(fake_slack, "practice share", response="r1"))
    [opened] = await fake_slack.wait_for("views.open")
    await slack.interaction(submission(opened.body["view"], {"title": title, "text": body}))
    await fake_slack.wait_for("chat.postEphemeral")

    await slack.command(slash(fake_slack, "practice 1", response="r2"))

    [*_, shown] = await fake_slack.wait_for("response/r2")
    header, story, *_ = shown.blocks
    # The title is a plain_text header: Slack shows it literally, character for character.
    assert header["text"] == {"type": "plain_text", "text": f"#1 {title}", "emoji": False}
    # The story is mrkdwn: what Slack shows is exactly what was typed (visible() fails on any
    # mention, channel ping or labelled link), and no formatting mark is left to act.
    assert story["type"] == "section" and story["text"]["type"] == "mrkdwn"
    assert visible(story["text"]["text"]) == body
    for mark in ("_this_", "*x*", "~y~"):
        assert mark not in story["text"]["text"]
    # The notification text too, and the rest of the card shows only our own labels.
    assert visible(shown.body["text"]).startswith(f"#1 {title}")
    for text in shown.texts()[2:]:
        visible(text)
    assert [
        e["text"]["text"] for b in shown.blocks if b["type"] == "actions" for e in b["elements"]
    ] == [
        "Edit",
        "Withdraw",
    ]


async def test_a_form_button_in_a_card_opens_the_modal(slack, fake_slack):
    status, _ = await slack.interaction(button_press(fake_slack, "practice share", response="r1"))

    assert status == 200
    [opened] = await fake_slack.wait_for("views.open")
    assert opened.body["trigger_id"] == "trigger-r1"
    assert opened.body["view"]["title"]["text"] == "Share practice"


# A backtick that is not fenced by zero-width spaces on both sides could open or close code.
_BARE_BACKTICK = re.compile(f"(?<!{ZWSP})`|`(?!{ZWSP})")


async def test_backticks_typed_into_a_record_show_as_backticks_not_code(slack, fake_slack, store):
    title = "Use `practice recent` daily"
    body = "Type `checkin` in the chat, then ``skip`` or `later`."
    await slack.command(slash(fake_slack, "practice share", response="r1"))
    [opened] = await fake_slack.wait_for("views.open")
    await slack.interaction(submission(opened.body["view"], {"title": title, "text": body}))
    [posted] = await fake_slack.wait_for("chat.postEphemeral")
    assert visible(posted.body["text"]) == f"Shared practice #1: {title}."
    [record] = await saved(store)
    assert (record.title, record.body) == (title, body)  # kept as typed, no marks

    await slack.command(slash(fake_slack, "practice 1", response="r2"))

    [*_, shown] = await fake_slack.wait_for("response/r2")
    header, story, *_ = shown.blocks
    assert header["text"]["text"] == f"#1 {title}"  # plain_text keeps every backtick
    text = story["text"]["text"]
    assert visible(text) == body and not _BARE_BACKTICK.search(text), text
    assert "\u2060" not in json.dumps(shown.body)  # the core's mark never reaches Slack

    # In search results too; the bot's own hints keep their commands as code.
    await slack.command(slash(fake_slack, "practice search recent", response="r3"))
    [*_, found] = await fake_slack.wait_for("response/r3")
    titles = [t for t in found.texts() if "practice recent" in t]
    assert titles and all(not _BARE_BACKTICK.search(t) for t in titles), found.texts()
    assert visible(titles[0]).endswith(f"#1 {title}"), titles


async def add_meetings(store) -> tuple[int, int]:
    """A forum that started an hour ago (on now) and one next week, as the meetings flow
    leaves them; returns their ids."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with store.unit() as uow:
        rows = [
            Meeting(
                title=title,
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                timezone="Europe/London",
                created_at=now - timedelta(days=7),
            )
            for title, start in (
                ("Marr forum", now - timedelta(hours=1)),
                ("Next forum", now + timedelta(days=7)),
            )
        ]
        uow.session.add_all(rows)
        await uow.session.flush()
        return rows[0].id, rows[1].id


async def test_the_forum_meeting_chosen_in_the_modal_is_saved_and_shown(slack, fake_slack, store):
    on_now, upcoming = await add_meetings(store)
    await slack.command(slash(fake_slack, "practice share", response="r1"))
    [opened] = await fake_slack.wait_for("views.open")
    modal = opened.body["view"]
    (field,) = [b for b in modal["blocks"] if b.get("block_id") == "in:meeting"]
    offered = [option["value"] for option in field["element"]["options"]]
    # Meetings that have started are offered (not one still to come); the one on now is chosen.
    assert offered == ["none", str(on_now)] and str(upcoming) not in offered
    assert field["element"]["initial_option"]["value"] == str(on_now)
    assert field["element"]["options"][1]["text"]["text"].startswith("Marr forum, ")

    typed = {"title": "Family cooking nights", "text": "Parents came.", "meeting": str(on_now)}
    assert await slack.interaction(submission(modal, typed)) == (200, "")
    await fake_slack.wait_for("chat.postEphemeral")
    [record] = await saved(store)
    assert record.meeting_id == on_now

    await slack.command(slash(fake_slack, "practice 1", response="r2"))
    [*_, shown] = await fake_slack.wait_for("response/r2")
    facts = [f["text"] for b in shown.blocks for f in b.get("fields", ())]
    assert "*At*\nMarr forum, " in "|".join(facts), facts
