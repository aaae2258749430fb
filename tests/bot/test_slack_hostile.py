"""Hostile input at the Slack edge, as properties (hypothesis): slash command forms, Events API
JSON, block_actions, view_submission and message shortcut payloads with fields missing, of the
wrong type, huge or full of odd unicode, every one signed with the signing secret as Slack signs
it, get no 5xx, and nothing fails in the work after the ack either (no error logged); the app
still answers ``help``. A body over the size bound gets 413, and a wrong signature is refused
before anything reads the body."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.app import MAX_BODY
from tests.bot.fake_slack import SECRET, TEAM_ID, FakeSlack, SlackSender, signed_headers
from tests.bot.test_slack import ADMIN, button_press, direct, envelope, mention, slash
from tests.bot.test_teams_hostile import DELETE, ErrorLog, broken, json_values, odd_text

# The properties exercise parsing at the edge, before any storage: they run on SQLite only (each
# example is a full request); what reaches the database from them (unstorable text, overlong
# ids) has its regression tests below, on both databases.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", "U2": "Ben Ortiz"})
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def errors() -> AsyncIterator[ErrorLog]:
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


async def work_done() -> None:
    """Wait for the listeners' work after their acks: the queue of the app's SlackEdge (its
    workers are tasks in this loop, since the app is served in-process)."""
    edges = {
        task.get_coro().cr_frame.f_locals["self"]
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "SlackEdge._work"
    }
    for edge in edges:
        await asyncio.wait_for(edge.idle(), timeout=10)


async def still_answers_help(slack: SlackSender, fake: FakeSlack, name: str) -> None:
    status, _ = await slack.command(slash(fake, "help", response=name))
    assert status == 200
    await work_done()
    calls = fake.calls_to(f"response/{name}")
    assert any(("Directory", "help directory") in call.buttons() for call in calls)


# A response_url is the fake's or none: the bot must never reach for an arbitrary host, and one
# it cannot reach is rightly logged as an error.


slack_values = st.one_of(st.just(DELETE), json_values)
# A form or a body is UTF-8 text, which cannot hold a lone surrogate (JSON can, escaped).
form_text = odd_text.map(lambda text: text.encode("utf-8", "replace").decode())
names = st.integers(0, 10**9).map(lambda n: f"h{n}")


@st.composite
def commands(draw: Any, fake: FakeSlack) -> dict[str, str]:
    form = slash(fake, draw(form_text), response=draw(names), user=ADMIN)
    for key in draw(st.lists(st.sampled_from(sorted(form)), max_size=4)):
        value = draw(st.one_of(st.just(DELETE), form_text))
        if value is DELETE or key == "response_url":
            form.pop(key, None)
        else:
            form[key] = value
    return form


EVENT_FIELDS = [
    ("event",),
    ("event", "type"),
    ("event", "user"),
    ("event", "text"),
    ("event", "channel"),
    ("event", "channel_type"),
    ("event", "ts"),
    ("event", "thread_ts"),
    ("event", "subtype"),
    ("event", "bot_id"),
    ("event", "blocks"),
    ("event_id",),
    ("type",),
    ("team_id",),
    ("api_app_id",),
    ("authorizations",),
    ("authorizations", 0),
    ("authorizations", 0, "user_id"),
    ("event_time",),
]
ACTION_FIELDS = [
    ("user",),
    ("user", "id"),
    ("user", "username"),
    ("user", "team_id"),
    ("team",),
    ("team", "id"),
    ("team", "domain"),
    ("channel",),
    ("channel", "id"),
    ("channel", "name"),
    ("container",),
    ("container", "is_ephemeral"),
    ("container", "message_ts"),
    ("container", "channel_id"),
    ("state",),
    ("state", "values"),
    ("state", "values", "b1"),
    ("state", "values", "b1", "title"),
    ("state", "values", "b1", "title", "value"),
    ("state", "values", "b1", "kind", "selected_option"),
    ("state", "values", "b1", "kind", "selected_options"),
    ("actions",),
    ("actions", 0),
    ("actions", 0, "value"),
    ("actions", 0, "action_id"),
    ("actions", 0, "action_ts"),
    ("trigger_id",),
    ("type",),
    ("view",),
    ("view", "private_metadata"),
    ("view", "callback_id"),
    ("view", "state"),
    ("view", "state", "values"),
    ("view", "state", "values", "in:title"),
    ("view", "state", "values", "in:title", "title"),
    ("view", "id"),
    ("view", "hash"),
    ("callback_id",),
    ("message",),
    ("message", "text"),
    ("message", "ts"),
    ("message", "user"),
    ("message", "username"),
    ("message_ts",),
]


def events(ts: str) -> list[dict[str, Any]]:
    return [
        envelope(mention("<@UBOT> help directory <@U2|ben>", ts=ts), event_id=f"Ev{ts}"),
        envelope(direct("me", ts=ts), event_id=f"Ev{ts}"),
        envelope({**direct("edited", ts=ts), "subtype": "message_changed"}, event_id=f"Ev{ts}"),
    ]


def interactions(fake: FakeSlack, name: str) -> list[dict[str, Any]]:
    press = button_press(fake, "help checkin", response=name)
    press["state"] = {
        "values": {
            "b1": {
                "title": {"type": "plain_text_input", "value": "A title"},
                "kind": {"type": "radio_buttons", "selected_option": {"value": "idea"}},
            }
        }
    }
    submit = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "partners"},
        "user": {"id": ADMIN, "username": "aisha", "team_id": TEAM_ID},
        "api_app_id": "A1",
        "trigger_id": "trigger-submit",
        "view": {
            "id": "V1",
            "hash": name,
            "type": "modal",
            "callback_id": "partnerbot_form",
            "private_metadata": json.dumps({"command": "practice save", "channel": "C1"}),
            "state": {"values": {"in:title": {"title": {"type": "x", "value": "Hello"}}}},
        },
    }
    shortcut = {
        "type": "message_action",
        "callback_id": "save_to_practice",
        "trigger_id": f"trigger-{name}",
        "team": {"id": TEAM_ID, "domain": "partners"},
        "user": {"id": ADMIN, "username": "aisha", "team_id": TEAM_ID},
        "channel": {"id": "C1", "name": "general"},
        "response_url": fake.response_url(name),
        "message_ts": "1700000000.000100",
        "message": {"type": "message", "user": "U2", "text": "We ran a drop-in", "ts": "1.5"},
    }
    return [press, submit, shortcut]


def damaged(
    payload: dict[str, Any], fields: list[tuple[Any, ...]], damage: list[tuple[int, Any]]
) -> dict[str, Any]:
    for index, value in damage:
        path = fields[index % len(fields)]
        if path[-1] == "response_url":
            value = DELETE
        payload = broken(payload, path, value)
    return payload


damages = st.lists(st.tuples(st.integers(0, 1000), slack_values), min_size=1, max_size=4)


async def survives(
    slack: SlackSender, fake_slack: FakeSlack, errors: ErrorLog, request: Awaitable[Any]
) -> None:
    """The signed request gets no 5xx, nothing is logged as an error once its work after the
    ack is done, and the app still answers ``help``."""
    errors.records.clear()
    status, body = await request
    await work_done()
    assert status < 500, (status, body)
    assert [record.getMessage() for record in errors.records] == []
    await still_answers_help(slack, fake_slack, f"help-{time.monotonic_ns()}")


@SQLITE_ONLY
@given(data=st.data())
async def test_a_broken_slash_command_gets_no_5xx_and_breaks_nothing(
    slack_app, fake_slack, errors, data
):
    slack, _ = slack_app
    form = data.draw(commands(fake_slack))
    await survives(slack, fake_slack, errors, slack.command(form))


@SQLITE_ONLY
@given(kind=st.integers(0, 2), damage=damages)
@example(kind=0, damage=[(3, 5)])  # an event whose text is a number
@example(kind=0, damage=[(4, DELETE)])  # an app_mention with no channel
@example(kind=1, damage=[(4, ["D1"])])  # a channel that is a list
async def test_a_broken_event_gets_no_5xx_and_breaks_nothing(
    slack_app, fake_slack, errors, kind, damage
):
    slack, _ = slack_app
    payload = damaged(events(str(time.time_ns()))[kind], EVENT_FIELDS, damage)
    await survives(slack, fake_slack, errors, slack.event(payload))


@SQLITE_ONLY
@given(kind=st.integers(0, 2), damage=damages)
@example(kind=0, damage=[(1, DELETE)])  # a button press with no user id
@example(kind=0, damage=[(15, "not a dict")])  # state.values not a mapping
@example(kind=0, damage=[(533, [None])])  # a team id that is a list
@example(kind=1, damage=[(1, DELETE)])  # a modal submitted by no one
@example(kind=1, damage=[(29, "[1, 2]")])  # private_metadata that is JSON but no object
@example(kind=2, damage=[(40, "yesterday")])  # a message ts that is no number
async def test_a_broken_interaction_gets_no_5xx_and_breaks_nothing(
    slack_app, fake_slack, errors, kind, damage
):
    slack, _ = slack_app
    name = f"i-{time.monotonic_ns()}"
    payload = damaged(interactions(fake_slack, name)[kind], ACTION_FIELDS, damage)
    await survives(slack, fake_slack, errors, slack.interaction(payload))


@SQLITE_ONLY
@given(
    body=st.one_of(
        form_text,
        st.builds(lambda text: "payload=" + text, form_text),
        json_values.map(json.dumps),
        json_values.map(lambda value: urlencode({"payload": json.dumps(value)})),
    ),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain"]
    ),
)
async def test_any_signed_body_gets_no_5xx(slack_app, fake_slack, errors, body, content_type):
    slack, _ = slack_app
    errors.records.clear()

    status, text = await slack.post(body, content_type=content_type)
    await work_done()

    assert status < 500, (status, text)
    assert [record.getMessage() for record in errors.records] == []


async def test_a_body_over_the_bound_is_refused_with_413(slack_app, fake_slack):
    slack, _ = slack_app
    form = urlencode(slash(fake_slack, "x" * MAX_BODY, response="big"))
    headers = signed_headers(form, content_type="application/x-www-form-urlencoded")
    async with (
        aiohttp.ClientSession() as session,
        session.post(slack.url, data=io.BytesIO(form.encode()), headers=headers) as response,
    ):
        assert response.status == 413
    await work_done()
    assert fake_slack.calls_to("response/big") == []
    await still_answers_help(slack, fake_slack, "after-big")


@SQLITE_ONLY
@given(body=form_text, content_type=st.sampled_from(["application/json", ""]))
@example(body="payload=%7Bnot json", content_type="application/x-www-form-urlencoded")
@example(body="{not json", content_type="application/json")
async def test_a_wrong_signature_is_refused_before_the_body_is_read(
    slack_app, fake_slack, errors, body, content_type
):
    slack, _ = slack_app
    errors.records.clear()

    status, _ = await slack.post(body, content_type=content_type, secret=SECRET + "-wrong")
    await work_done()

    assert status == 401
    assert [record.getMessage() for record in errors.records] == []
    assert [call.method for call in fake_slack.calls if call.method != "auth.test"] == []


# -- the crashes the properties found, one test each ---------------------------------------------


async def test_a_malformed_body_with_a_wrong_signature_is_401_not_500(slack_app, fake_slack):
    slack, _ = slack_app
    for body, content_type in (
        ("payload=%7Bnot json", "application/x-www-form-urlencoded"),
        ('{"authorizations": 5}', "application/json"),
    ):
        status, _ = await slack.post(body, content_type=content_type, secret="wrong")
        assert status == 401


async def test_a_signed_body_bolt_cannot_read_is_400(slack_app, fake_slack, errors):
    slack, _ = slack_app
    for body in (
        '{"authorizations": 5}',
        '{"type": "event_callback", "event": null}',
        "[1]",
        '{"type": "block_actions", "actions": []}',  # found by the interaction property
        '{"type": "block_actions", "actions": [{"value": "x"}]}',  # and no action_id, too
    ):
        status, text = await slack.post(body, content_type="application/json")
        assert (status, text) == (400, "not a Slack payload")
    assert errors.records == []


async def test_an_event_whose_text_is_not_a_string_is_taken_as_empty(slack_app, fake_slack, errors):
    slack, _ = slack_app
    event = direct("help", ts="1700000000.000001")
    event["text"] = 5
    status, _ = await slack.event(envelope(event, event_id="EvNumber"))
    await work_done()

    assert status == 200
    assert errors.records == []
    [reply] = [c for c in fake_slack.calls_to("chat.postMessage") if "nothing to do" in str(c.body)]
    assert reply.body["channel"] == "D1"


async def test_a_button_press_from_no_one_is_acked_and_ignored(slack_app, fake_slack, errors):
    slack, _ = slack_app
    press = button_press(fake_slack, "help", response="nobody")
    del press["user"]["id"]
    status, _ = await slack.interaction(press)
    await work_done()

    assert status == 200
    assert errors.records == []
    assert fake_slack.calls_to("response/nobody") == []


async def test_a_shortcut_on_a_message_whose_ts_is_no_number_still_opens_the_form(
    slack_app, fake_slack, errors
):
    slack, _ = slack_app
    shortcut = interactions(fake_slack, "ts")[2]
    shortcut["message"]["ts"] = "yesterday"
    shortcut["message_ts"] = "yesterday"
    status, _ = await slack.interaction(shortcut)
    await work_done()

    assert status == 200
    assert errors.records == []
    [opened] = fake_slack.calls_to("views.open")
    assert "We ran a drop-in" in json.dumps(opened.body)


async def test_a_slash_command_without_a_response_url_is_answered_in_the_channel(
    slack_app, fake_slack, errors
):
    slack, _ = slack_app
    form = slash(fake_slack, "help", response="none")
    del form["response_url"]
    status, _ = await slack.command(form)
    await work_done()

    assert status == 200
    assert errors.records == []
    ephemeral = fake_slack.calls_to("chat.postEphemeral")
    assert any(("Directory", "help directory") in call.buttons() for call in ephemeral)
    assert {(call.body["channel"], call.body["user"]) for call in ephemeral} == {("C1", ADMIN)}


async def test_a_slack_error_that_is_not_json_is_logged_not_raised(slack_app, fake_slack, errors):
    slack, _ = slack_app
    fake_slack.pages["users.info"] = [400]  # plain text, not Slack's JSON
    status, _ = await slack.command(slash(fake_slack, "help", response="proxy", user="U2"))
    await work_done()

    assert status == 200
    assert errors.records == []
    assert fake_slack.calls_to("response/proxy")


async def test_an_over_long_command_gets_a_clear_answer(slack_app, fake_slack):
    slack, _ = slack_app
    status, _ = await slack.command(slash(fake_slack, "risk " + "x" * 5000, response="long"))
    await work_done()

    assert status == 200
    texts = [text for call in fake_slack.calls_to("response/long") for text in call.texts()]
    assert ":warning: Sorry, that is too long (5005 characters; the most is 4000)." in texts
