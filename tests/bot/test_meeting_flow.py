"""A forum meeting over real HTTP on each platform: the coordinator links the channel to the area
and schedules, the delivery engine announces it in the channel with RSVP buttons and an .ics
link, a member presses Going on the platform's own card, and the answer is saved and counted.
At the start the delivery engine sends each member the check-in message, and pressing its
button records them as there."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar
from sqlalchemy import select

from storage.models import MeetingAttendance, MeetingRsvp
from tests.bot.conftest import slack_settings
from tests.bot.fake_connector import FakeConnector
from tests.bot.fake_slack import FakeSlack, SlackSender
from tests.bot.flows import posted_to, until
from tests.bot.test_forms import teams_submit
from tests.bot.test_slack import ADMIN, button_press, slash
from tests.bot.test_teams import BOT, JANE, TENANT, Teams, mention


def in_a_month() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).date().isoformat()


class HeldClock:
    """The core's clock: held at a moment while ``held`` is set, else the real time (the
    delivery engine always runs on the real time)."""

    def __init__(self) -> None:
        self.held: datetime | None = None

    def __call__(self) -> datetime:
        return self.held or datetime.now(UTC)


def starting_a_little_ago() -> tuple[datetime, str, str]:
    """A start ten minutes ago, to the minute, as a London date and time: scheduled from a day
    earlier, its check-in message is due as soon as it is queued and the meeting is on."""
    start = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    local = start.astimezone(ZoneInfo("Europe/London"))
    return start, local.date().isoformat(), local.strftime("%H:%M")


async def attendees(store) -> list[int]:
    async with store.unit() as uow:
        return [row.member_id for row in await uow.session.scalars(select(MeetingAttendance))]


async def answers(store) -> list[str]:
    async with store.unit() as uow:
        return [row.answer for row in await uow.session.scalars(select(MeetingRsvp))]


async def calendar_at(base: str, url: str) -> tuple[str, Calendar]:
    """The .ics behind a link, fetched from this test's server (the link names the public URL)."""
    token = url.rsplit("/exports/", 1)[1]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/exports/{token}") as response,
    ):
        assert response.status == 200
        return response.headers["Content-Type"], Calendar.from_ical(await response.read())


# -- Slack ------------------------------------------------------------------------------------


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", "U2": "Ben Ortiz"})
    await fake.start()
    yield fake
    await fake.close()


async def test_a_slack_meeting_announced_in_the_channel_and_answered_by_button(
    slack_app, fake_slack, store
):
    slack, base = slack_app
    await slack.command(slash(fake_slack, "area add Marr", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)
    await slack.command(slash(fake_slack, "area channel Marr", response="r2"))
    (linked,) = await fake_slack.wait_for("response/r2")
    assert any("Marr's meetings will be announced in this channel." in t for t in linked.texts())

    day = in_a_month()
    await slack.command(
        slash(
            fake_slack,
            f'meeting schedule "Marr forum" {day} 10:30 area=Marr where="Town Hall"',
            response="r3",
        )
    )
    (scheduled,) = await fake_slack.wait_for("response/r3")
    assert any("Announcing it in 1 channel." in t for t in scheduled.texts()), scheduled.texts()

    announcement = await until(
        lambda: next(
            (c for c in posted_to(fake_slack, "C1") if "Forum meeting 1" in c.body["text"]),
            None,
        )
    )
    buttons = [e for b in announcement.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(e["text"]["text"], e.get("value")) for e in buttons if "value" in e] == [
        ("Going", "rsvp 1 yes"),
        ("Maybe", "rsvp 1 maybe"),
        ("Can't", "rsvp 1 no"),
    ]
    (link,) = [e for e in buttons if e.get("url")]
    assert link["text"]["text"] == "Add to calendar (.ics)"
    media_type, calendar = await calendar_at(base, link["url"])
    assert media_type.startswith("text/calendar")
    (event,) = calendar.walk("VEVENT")
    assert str(event["summary"]) == "Marr forum" and str(event["location"]) == "Town Hall"

    press = button_press(fake_slack, "rsvp 1 yes", response="r4", user="U2", ephemeral=False)
    press["container"]["message_ts"] = announcement_ts = "1700000000.000042"
    await slack.interaction(press)
    # Ben is new: a welcome first, then his answer with the counts, only for him.
    _welcome, answer = await fake_slack.wait_for("response/r4", count=2)
    assert any("Going 1 · Maybe 0 · Can't 0" in t for t in answer.texts()), answer.texts()
    assert await answers(store) == ["yes"]
    # And the announcement itself now shows the count to everyone in the channel.
    (update,) = await fake_slack.wait_for("chat.update")
    assert (update.body["channel"], update.body["ts"]) == ("C1", announcement_ts)
    assert any("Going 1 · Maybe 0 · Can't 0" in t for t in update.texts()), update.texts()
    assert [
        e["text"]["text"] for b in update.blocks if b["type"] == "actions" for e in b["elements"]
    ][:3] == ["Going", "Maybe", "Can't"]


async def test_at_the_start_a_slack_member_checks_in_with_the_button_in_their_dm(
    fake_slack, make_settings, serve_app, store
):
    clock = HeldClock()
    settings = slack_settings(make_settings, fake_slack, dispatch_interval="0.1")
    slack = SlackSender(await serve_app(settings, clock=clock) + "/slack/events")
    start, day, at = starting_a_little_ago()
    clock.held = start - timedelta(days=1)
    await slack.command(slash(fake_slack, "area add Marr", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)  # Aisha's welcome, then the area
    await slack.command(slash(fake_slack, "me area Marr", response="r2", user="U2"))
    _welcome, moved = await fake_slack.wait_for("response/r2", count=2)
    assert any("You're now in Marr." in t for t in moved.texts()), moved.texts()
    await slack.command(
        slash(fake_slack, f'meeting schedule "Marr forum" {day} {at} area=Marr', response="r3")
    )
    (scheduled,) = await fake_slack.wait_for("response/r3")
    assert any("Scheduled Marr forum (meeting 1)" in t for t in scheduled.texts()), (
        scheduled.texts()
    )
    clock.held = None  # the meeting is on

    message = await until(
        lambda: next(
            (c for c in posted_to(fake_slack, "DU2") if "Starting now" in c.body["text"]), None
        )
    )
    assert message.body["text"].startswith("Starting now: Marr forum (meeting 1)")
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(e["text"]["text"], e["value"]) for e in buttons] == [("Check in", "attend 1")]
    assert await attendees(store) == []

    press = button_press(
        fake_slack,
        buttons[0]["value"],
        response="r4",
        user="U2",
        channel_id="DU2",
        channel_name="directmessage",
        ephemeral=False,
    )
    press["actions"][0]["action_id"] = buttons[0]["action_id"]
    assert await slack.interaction(press) == (200, "")
    # In the DM, the answer is a message of its own there.
    await until(
        lambda: any(
            c.body["text"] == "Welcome! You're checked in to Marr forum."
            for c in posted_to(fake_slack, "DU2")
        )
    )
    async with store.unit() as uow:
        ben = await uow.members.identity("slack", "T1", "U2")
    assert await attendees(store) == [ben.member_id]
    await slack.command(slash(fake_slack, "meeting attendance 1", response="r5"))
    (report,) = await fake_slack.wait_for("response/r5")
    assert any("1 partner attended Marr forum" in t for t in report.texts()), report.texts()


# -- Teams ------------------------------------------------------------------------------------


@pytest.fixture
async def teams(make_settings, serve_app, connector) -> AsyncIterator[Teams]:
    base = await serve_app(make_settings(dispatch_interval="0.1"))
    async with aiohttp.ClientSession() as session:
        client = Teams(session, base, connector)
        client.base = base
        yield client


def card_with(connector: FakeConnector, words: str) -> Any:
    """The first activity the bot sent that shows ``words`` (as text or on a card)."""
    return next(
        (s for s in connector.sent if words in " ".join([s.text or "", *s.card_texts])), None
    )


async def test_a_teams_meeting_announced_in_the_channel_and_answered_by_button(
    teams, connector, store
):
    await teams.say("area add Marr")  # Ann, first to arrive in development, coordinates
    await teams.say(f"{mention(BOT)} area channel Marr", mentions=(BOT,), channel=True)
    await until(lambda: card_with(connector, "announced in this channel"))
    await teams.say(f'meeting schedule "Marr forum" {in_a_month()} 10:30 area=Marr')

    announcement = await until(lambda: card_with(connector, "Forum meeting 1: Marr forum"))
    titles = [title for title, _ in announcement.buttons]
    assert titles[:3] == ["Going", "Maybe", "Can't"]
    open_url = [
        action
        for element in announcement.card["body"]
        if element["type"] == "ActionSet"
        for action in element["actions"]
        if action["type"] == "Action.OpenUrl"
    ]
    assert open_url[0]["title"] == "Add to calendar (.ics)"
    _, calendar = await calendar_at(teams.base, open_url[0]["url"])
    assert re.search(r"UID:meeting-1@partnerbot", calendar.to_ical().decode())

    going = teams_submit(announcement.card, "Going", {})
    assert going["command"] == "rsvp 1 yes"
    response = await teams.post(
        teams.activity("message", sender=JANE, channel=True, value=going, replyToId="a1")
    )
    assert response.status in (200, 201)
    reply = await until(lambda: card_with(connector, "You're going to Marr forum"))
    assert "Going 1 · Maybe 0 · Can't 0" in " ".join([reply.text or "", *reply.card_texts])
    assert await answers(store) == ["yes"]
    # The announcement card the button was on is replaced with the new counts.
    (update,) = await until(lambda: connector.updated)
    assert update.reply_to_id == "a1"
    assert update.card is not None and update.card_texts[0].startswith("Forum meeting 1")
    assert any("Going 1 · Maybe 0 · Can't 0" in t for t in update.card_texts)


JANES_CHAT = {
    "conversationType": "personal",
    "id": "a:1personal-chat-with-jane",
    "tenantId": TENANT,
}


async def test_at_the_start_a_teams_member_checks_in_with_the_button_on_the_card(
    make_settings, serve_app, connector, store
):
    clock = HeldClock()
    base = await serve_app(make_settings(dispatch_interval="0.1"), clock=clock)
    start, day, at = starting_a_little_ago()
    clock.held = start - timedelta(days=1)
    async with aiohttp.ClientSession() as session:
        teams = Teams(session, base, connector)
        await teams.say("area add Marr")  # Ann, first to arrive in development, coordinates
        await teams.say("me area Marr", sender=JANE, conversation=JANES_CHAT)
        await until(lambda: card_with(connector, "You're now in Marr."))
        await teams.say(f'meeting schedule "Marr forum" {day} {at} area=Marr')
        await until(lambda: card_with(connector, "Scheduled Marr forum (meeting 1)"))
        clock.held = None  # the meeting is on

        starting = await until(
            lambda: next(
                (
                    s
                    for s in connector.sent
                    if s.conversation_id == JANES_CHAT["id"]
                    and any(t.startswith("Starting now") for t in s.card_texts)
                ),
                None,
            )
        )
        assert starting.card_texts[0].startswith("Starting now: Marr forum (meeting 1)")
        assert [title for title, _ in starting.buttons] == ["Check in"]
        assert await attendees(store) == []

        check_in = teams_submit(starting.card, "Check in", {})
        response = await teams.post(
            teams.activity(
                "message", sender=JANE, conversation=JANES_CHAT, value=check_in, replyToId="s1"
            )
        )
        assert response.status in (200, 201)
        await until(lambda: card_with(connector, "You're checked in to Marr forum"))
    async with store.unit() as uow:
        jane = await uow.members.identity("teams", TENANT, JANE["id"])
    assert await attendees(store) == [jane.member_id]
