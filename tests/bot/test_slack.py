"""The Slack edge over real HTTP: requests signed as Slack signs them go to the real app, which
answers through a fake Slack Web API on loopback. Assertions are on what a member would see (the
Web API calls the bot made) and on what was saved."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, text

from dialogs.grammar import TOPICS
from storage.models import Member, ProcessedEvent
from storage.repositories import Store
from tests.bot.fake_slack import BOT_USER_ID, TEAM_ID, TOKEN, FakeSlack

ADMIN = "U1"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={"U1": "Aisha Khan", "U2": "Ben Ortiz", "U3": "Cara Lewis"})
    await fake.start()
    yield fake
    await fake.close()


def slash(
    fake: FakeSlack,
    text: str,
    *,
    response: str,
    user: str = ADMIN,
    user_name: str = "aisha",
    channel_id: str = "C1",
    channel_name: str = "general",
) -> dict[str, str]:
    """Every field Slack posts for a slash command."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "partners",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user_name,
        "command": "/partner",
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": fake.response_url(response),
        "trigger_id": f"trigger-{response}",
    }


def envelope(event: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    """An Events API callback as Slack wraps it."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"ctx-{event_id}",
    }


def mention(text: str, *, ts: str, user: str = ADMIN, channel: str = "C1", **more: Any) -> dict:
    return {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **more,
    }


def direct(text: str, *, ts: str, user: str = ADMIN, channel: str = "D1") -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }


def button_press(
    fake: FakeSlack,
    value: str,
    *,
    response: str,
    user: str = ADMIN,
    channel_id: str = "C1",
    channel_name: str = "general",
    ephemeral: bool = True,
) -> dict[str, Any]:
    """A block_actions payload for one of our buttons."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A1",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000001",
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": f"trigger-{response}",
        "team": {"id": TEAM_ID, "domain": "partners"},
        "channel": {"id": channel_id, "name": channel_name},
        "state": {"values": {}},
        "response_url": fake.response_url(response),
        "actions": [
            {
                "type": "button",
                "action_id": "cmd:0",
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "Directory"},
                "value": value,
                "action_ts": "1700000001.000001",
            }
        ],
    }


async def reply_texts(fake: FakeSlack, method: str, *, count: int = 1) -> list[str]:
    calls = await fake.wait_for(method, count=count)
    return [text for call in calls for text in call.texts()]


async def member_of(store: Store, user_id: str) -> tuple[Member, Any, frozenset[str]]:
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", TEAM_ID, user_id)
        assert identity is not None, f"{user_id} was not saved"
        member = await uow.members.get(identity.member_id)
        assert member is not None
        return member, identity, await uow.members.roles_of(member.id)


async def test_help_command_answers_on_the_response_url(slack, fake_slack):
    status, body = await slack.command(slash(fake_slack, "help", response="r1"))

    assert (status, body) == (200, "")  # acked at once; the answer follows on response_url
    welcome, help_ = await fake_slack.wait_for("response/r1", count=2)
    assert "Welcome, Aisha Khan!" in welcome.body["text"]
    assert help_.body["response_type"] == "ephemeral"
    assert help_.body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "partnerbot", "emoji": False},
    }
    assert help_.buttons() == [(topic.capitalize(), f"help {topic}") for topic in TOPICS]
    assert any(text.startswith("• directory - ") for text in help_.texts())
    # Replies use the bot token; bolt asked auth.test who the bot is.
    assert [call.authorization for call in fake_slack.calls_to("auth.test")] == [f"Bearer {TOKEN}"]


async def test_commands_after_the_first_are_acked_and_answered_as_the_first(slack, fake_slack):
    # The first goes through bolt's dispatch (auth.test); later ones are queued without it
    # (bot/slack.py ack_known_command), with the same ack and the same kind of answer.
    first = await slack.command(slash(fake_slack, "help", response="r1"))
    _, help_1 = await fake_slack.wait_for("response/r1", count=2)
    second = await slack.command(slash(fake_slack, "help", response="r2", user="U2"))
    _, help_2 = await fake_slack.wait_for("response/r2", count=2)  # Ben is welcomed too
    third = await slack.command(slash(fake_slack, "help", response="r3"))
    (help_3,) = await fake_slack.wait_for("response/r3")

    assert first == second == third == (200, "")
    assert help_3.body == help_1.body  # Aisha, the first member, is the coordinator
    assert help_2.buttons() == help_1.buttons()
    assert help_2.body["response_type"] == help_3.body["response_type"] == "ephemeral"
    assert len(fake_slack.calls_to("auth.test")) == 1


async def test_a_command_whose_field_names_come_percent_encoded_is_answered_through_bolt(
    slack, fake_slack
):
    # The quick ack reads only plain field names; a form any decoder reads the same (Slack's
    # own never encodes its names) still gets the same ack and answer, from bolt's dispatch.
    await slack.command(slash(fake_slack, "help", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)
    body = urlencode(slash(fake_slack, "help", response="r2")).replace("command=", "comm%61nd=")
    status, text = await slack.post(body, content_type="application/x-www-form-urlencoded")
    (help_,) = await fake_slack.wait_for("response/r2")
    assert (status, text) == (200, "")
    assert help_.buttons() == [(topic.capitalize(), f"help {topic}") for topic in TOPICS]


async def test_after_the_first_command_a_bad_one_still_gets_its_answer(slack, fake_slack, store):
    await slack.command(slash(fake_slack, "help", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)

    unsigned = await slack.command(
        slash(fake_slack, "area add Nowhere", response="r2"), secret="not-the-secret"
    )
    other = slash(fake_slack, "area add Nowhere", response="r3")
    other["command"] = "/someone-elses"
    not_ours = await slack.command(other)
    await slack.command(slash(fake_slack, "me", response="r4"))
    await fake_slack.wait_for("response/r4")

    assert unsigned[0] == 401
    assert not_ours[0] == 404  # bolt: no listener for that command
    assert fake_slack.calls_to("response/r2") == fake_slack.calls_to("response/r3") == []
    async with store.unit() as uow:
        assert await uow.areas.all() == []


async def test_me_area_after_area_add_puts_the_member_in_the_area(slack, fake_slack, store):
    await slack.command(slash(fake_slack, "area add North Ayrshire", response="r1"))
    added = await reply_texts(fake_slack, "response/r1", count=2)
    assert any("Added the area North Ayrshire." in text for text in added)

    await slack.command(slash(fake_slack, "me area north ayrshire", response="r2"))
    assert await reply_texts(fake_slack, "response/r2") == ["You're now in North Ayrshire."]

    member, _, _ = await member_of(store, ADMIN)
    async with store.unit() as uow:
        area = await uow.areas.by_name("North Ayrshire")
    assert area is not None and member.area_id == area.id


async def test_text_comes_back_exactly_as_typed(slack, fake_slack, store):
    # Slack sends &, < and > typed by a person as entities; the area keeps what was typed and
    # the reply shows it literally, without bold or a channel-wide ping.
    await slack.command(slash(fake_slack, "area add *Fish* &amp; &lt;!channel&gt;", response="r1"))
    added = await reply_texts(fake_slack, "response/r1", count=2)

    async with store.unit() as uow:
        names = [area.name for area in await uow.areas.all()]
    assert names == ["*Fish* & <!channel>"]
    shown = next(text for text in added if text.startswith("Added"))
    assert "<!channel>" not in shown
    prose, code, rest = shown.split("`")
    # Outside code: formatting characters fenced with zero-width spaces, shown as typed.
    assert prose.replace("\u200b", "") == (
        "Added the area *Fish* &amp; &lt;!channel&gt;. Members join it with "
    )
    assert "*Fish*" not in prose
    # Inside a code span Slack formats nothing: the command is left as it is, to copy.
    assert (code, rest) == ("me area *Fish* &amp; &lt;!channel&gt;", ".")


async def test_app_mention_answers_in_the_thread(slack, fake_slack, store):
    status, _ = await slack.event(
        envelope(mention(f"<@{BOT_USER_ID}> help", ts="1700000100.000100"), event_id="Ev1")
    )

    assert status == 200
    welcome, help_ = await fake_slack.wait_for("chat.postMessage", count=2)
    for call in (welcome, help_):
        assert call.body["channel"] == "C1"
        assert call.body["thread_ts"] == "1700000100.000100"
        assert call.authorization == f"Bearer {TOKEN}"
    assert help_.buttons()[0] == ("Directory", "help directory")
    assert "partnerbot help" in help_.body["text"]  # the notification text
    async with store.unit() as uow:
        channel = await uow.conversations.find("slack", TEAM_ID, "C1")
    assert channel is not None and channel.kind == "channel"


async def test_app_mention_inside_a_thread_stays_in_that_thread(slack, fake_slack):
    event = mention(f"<@{BOT_USER_ID}> areas", ts="1700000200.000200")
    event["thread_ts"] = "1700000150.000150"
    await slack.event(envelope(event, event_id="Ev2"))

    calls = await fake_slack.wait_for("chat.postMessage", count=2)
    assert {call.body["thread_ts"] for call in calls} == {"1700000150.000150"}


async def test_a_private_reply_to_a_mention_is_ephemeral(slack, fake_slack):
    await slack.event(
        envelope(mention(f"<@{BOT_USER_ID}> me", ts="1700000250.000250"), event_id="Ev2b")
    )

    (profile,) = await fake_slack.wait_for("chat.postEphemeral")
    assert (profile.body["channel"], profile.body["user"]) == ("C1", ADMIN)
    assert profile.body["thread_ts"] == "1700000250.000250"
    assert profile.blocks[0]["text"]["text"] == "Your profile"
    assert "*Name*\nAisha Khan" in profile.texts()
    # Only the welcome went to the channel; the profile was for Aisha's eyes.
    (welcome,) = fake_slack.calls_to("chat.postMessage")
    assert "Welcome, Aisha Khan!" in welcome.body["text"]


async def test_direct_message_is_answered_in_the_dm_and_the_dm_is_saved(slack, fake_slack, store):
    await slack.event(envelope(direct("me", ts="1700000300.000300", user="U3"), event_id="Ev3"))

    calls = await fake_slack.wait_for("chat.postMessage", count=2)
    assert {call.body["channel"] for call in calls} == {"D1"}
    assert "thread_ts" not in calls[0].body
    member, identity, _ = await member_of(store, "U3")
    assert identity.dm_channel_id == "D1"
    assert member.display_name == "Cara Lewis"  # from users.info


async def test_a_retried_event_is_handled_once(slack, fake_slack, store, caplog):
    caplog.set_level(logging.INFO, logger="dialogs.core")
    heard = Heard("duplicate event ignored")
    logging.getLogger("dialogs.core").addHandler(heard)
    callback = envelope(direct("me", ts="1700000400.000400"), event_id="Ev4")
    await slack.event(callback)
    first = await fake_slack.wait_for("chat.postMessage", count=2)

    # Slack retries when it thinks the ack was late: same event_id, X-Slack-Retry-Num set.
    status, _ = await slack.event(
        callback,
        extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert status == 200
    try:
        await _logged(caplog, heard)
    finally:
        logging.getLogger("dialogs.core").removeHandler(heard)

    assert fake_slack.calls_to("chat.postMessage") == first
    async with store.unit() as uow:
        seen = await uow.session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert seen == 1


async def test_a_button_runs_its_command(slack, fake_slack):
    await slack.command(slash(fake_slack, "help", response="r1"))
    help_ = (await fake_slack.wait_for("response/r1", count=2))[-1]
    assert ("Directory", "help directory") in help_.buttons()

    status, body = await slack.interaction(
        button_press(fake_slack, "help directory", response="r2")
    )

    assert (status, body) == (200, "")
    (answer,) = await fake_slack.wait_for("response/r2")
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["replace_original"] is False
    assert answer.body["blocks"][0]["text"]["text"] == f"Help: {TOPICS['directory']}"
    assert any("me area &lt;area&gt;" in text for text in answer.texts())


async def test_a_button_in_the_dm_is_answered_with_a_message(slack, fake_slack):
    await slack.interaction(
        button_press(
            fake_slack,
            "help privacy",
            response="r1",
            channel_id="D1",
            channel_name="directmessage",
            ephemeral=False,
        )
    )

    calls = await fake_slack.wait_for("chat.postMessage", count=2)
    assert {call.body["channel"] for call in calls} == {"D1"}
    assert calls[-1].blocks[0]["text"]["text"] == f"Help: {TOPICS['privacy']}"
    assert fake_slack.calls_to("response/r1") == []


async def test_a_button_in_app_home_is_answered_in_the_dm(slack, fake_slack, store):
    press = button_press(fake_slack, "me", response="unused", ephemeral=False)
    del press["channel"], press["response_url"]
    press["container"] = {"type": "view", "view_id": "V1"}
    await slack.interaction(press)

    calls = await fake_slack.wait_for("chat.postMessage", count=2)
    assert {call.body["channel"] for call in calls} == {f"D{ADMIN}"}
    _, identity, _ = await member_of(store, ADMIN)
    assert identity.dm_channel_id == f"D{ADMIN}"


async def test_role_for_a_mentioned_member_saves_the_role(slack, fake_slack, store):
    await slack.command(slash(fake_slack, "role <@U2|ben> coordinator", response="r1"))

    texts = await reply_texts(fake_slack, "response/r1", count=2)
    assert "Ben Ortiz is now a partnership coordinator." in texts
    member, _, roles = await member_of(store, "U2")
    assert member.display_name == "Ben Ortiz"
    assert "coordinator" in roles


async def test_role_named_in_an_app_mention(slack, fake_slack, store):
    await slack.event(
        envelope(
            mention(f"<@{BOT_USER_ID}> role <@U2> expert", ts="1700000500.000500"),
            event_id="Ev5",
        )
    )

    texts = await reply_texts(fake_slack, "chat.postMessage", count=2)
    assert "Ben Ortiz is now an expert." in texts
    _, _, roles = await member_of(store, "U2")
    assert roles == {"expert"}


async def test_a_slash_command_in_someone_elses_dm_keeps_the_bots_dm(slack, fake_slack, store):
    # In a DM between two people the bot cannot post; its own DM with the member is where it
    # reaches them privately, so that is what is saved.
    await slack.command(
        slash(fake_slack, "me", response="r1", channel_id="DHUMANS", channel_name="directmessage")
    )

    await fake_slack.wait_for("response/r1", count=2)
    (opened,) = fake_slack.calls_to("conversations.open")
    assert opened.body["users"] == ADMIN
    _, identity, _ = await member_of(store, ADMIN)
    assert identity.dm_channel_id == f"D{ADMIN}"


async def test_bad_signature_is_refused_and_changes_nothing(slack, fake_slack, store):
    status, _ = await slack.command(
        slash(fake_slack, "area add Nowhere", response="r1"), secret="not-the-secret"
    )
    event_status, _ = await slack.event(
        envelope(direct("me", ts="1700000600.000600"), event_id="Ev6"), secret="not-the-secret"
    )

    assert (status, event_status) == (401, 401)
    async with store.unit() as uow:
        assert await uow.members.count() == 0
        assert await uow.areas.all() == []
    assert fake_slack.calls == []


async def test_stale_timestamp_is_refused(slack, fake_slack, store):
    six_minutes_ago = int(time.time()) - 6 * 60
    status, _ = await slack.command(
        slash(fake_slack, "help", response="r1"), timestamp=six_minutes_ago
    )

    assert status == 401
    async with store.unit() as uow:
        assert await uow.members.count() == 0
    assert fake_slack.calls == []


async def test_url_verification(slack, fake_slack):
    status, body = await slack.event(
        {"token": "legacy-verification-token", "challenge": "c-123", "type": "url_verification"}
    )

    assert status == 200
    assert json.loads(body) == {"challenge": "c-123"}


async def test_the_bots_own_messages_are_ignored(slack, fake_slack, store):
    own = direct("Hello! I'm partnerbot.", ts="1700000700.000700", user=BOT_USER_ID)
    own["bot_id"] = "BBOT"
    status, _ = await slack.event(envelope(own, event_id="Ev7"))
    # A marker after it: once it is answered, the bot's own message has long been dropped.
    await slack.event(envelope(direct("me", ts="1700000701.000701"), event_id="Ev8"))

    calls = await fake_slack.wait_for("chat.postMessage", count=2)
    assert status == 200
    async with store.unit() as uow:
        assert await uow.members.count() == 1
    assert all("Hello! I'm partnerbot." not in call.body["text"] for call in calls)


async def test_a_failure_in_the_core_says_sorry_and_logs_no_text(slack, fake_slack, store, caplog):
    caplog.set_level(logging.INFO)
    async with store.engine.begin() as connection:
        await connection.execute(text("DROP TABLE processed_events"))

    await slack.event(envelope(direct("me secret-words", ts="1700000800.000800"), event_id="Ev9"))

    (call,) = await fake_slack.wait_for("chat.postMessage")
    assert call.texts() == [":warning: Sorry, something went wrong. Please try again in a moment."]
    assert "secret-words" not in caplog.text
    assert TOKEN not in caplog.text


async def test_a_rate_limited_reply_is_sent_after_retry_after(slack, fake_slack):
    fake_slack.failures["chat.postMessage"] = [429]
    await slack.event(envelope(direct("help", ts="1700000900.000900"), event_id="Ev10"))

    calls = await fake_slack.wait_for("chat.postMessage", count=3)
    assert calls[0].body == calls[1].body  # the refused message, sent again


class Heard(logging.Handler):
    """Notices when the app logs some words."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.INFO)
        self.words = words
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


async def _logged(caplog: pytest.LogCaptureFixture, heard: Heard, *, within: float = 5.0) -> None:
    """Wait, at most ``within`` seconds, until the app has logged what ``heard`` listens for."""
    try:
        async with asyncio.timeout(within):
            await heard.event.wait()
    except TimeoutError:
        raise AssertionError(f"never logged {heard.words!r}") from None
