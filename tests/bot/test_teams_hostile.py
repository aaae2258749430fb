"""Hostile input at the Teams edge, as properties (hypothesis): activities posted to the real
app's /api/messages (development mode, auth off) with fields missing, of the wrong type, huge or
full of odd unicode get a 2xx or a 4xx, never a 5xx; nothing fails inside the turn either (no
error logged); and the app still answers ``help`` afterwards. A body over the size bound is
refused with 413."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.app import MAX_BODY
from storage.repositories import Store
from tests.bot.fake_connector import FakeConnector
from tests.bot.test_teams import ANN, BOT, JANE, TENANT, Teams, mention


class Long(str):
    """A long run of x, shown short when hypothesis reports an example."""

    def __new__(cls, length: int) -> Long:
        return super().__new__(cls, "x" * length)

    def __repr__(self) -> str:
        return f"Long({len(self)})"

    def __deepcopy__(self, memo: Any) -> Long:
        return self


# Text a member (or something pretending to be Teams) could send: odd unicode included.
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",  # a lone surrogate: valid in JSON text, not encodable as UTF-8
            "\u202eevil",  # right-to-left override
            "e\u0301" * 20,  # combining accents
            "👩\u200d👩\u200d👧" * 10,
            "<at>partnerbot</at>",
            "<at>Ann Lee</at> help",
            "[click](https://evil.example)",
            "help \x00 directory",
            "meeting ²",
        ]
    ),
    st.integers(1, 300_000).map(Long),  # up to a huge string
    st.integers(1, 2_000).map(lambda n: "help " + "é" * n),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)

# Where an activity can be broken: (path, what may go there); serviceUrl only ever becomes
# something no one can connect to, so the bot never tries to reach an arbitrary host.
FIELDS = [
    ("type",),
    ("id",),
    ("text",),
    ("textFormat",),
    ("name",),
    ("value",),
    ("value", "command"),
    ("value", "action"),
    ("value", "action", "data"),
    ("value", "action", "data", "command"),
    ("value", "commandId"),
    ("value", "messagePayload"),
    ("value", "messagePayload", "body"),
    ("value", "messagePayload", "body", "content"),
    ("value", "messagePayload", "from"),
    ("value", "messagePayload", "createdDateTime"),
    ("value", "data"),
    ("from",),
    ("from", "id"),
    ("from", "name"),
    ("recipient",),
    ("recipient", "id"),
    ("conversation",),
    ("conversation", "id"),
    ("conversation", "conversationType"),
    ("conversation", "isGroup"),
    ("conversation", "tenantId"),
    ("conversation", "name"),
    ("channelData",),
    ("channelData", "tenant"),
    ("channelData", "tenant", "id"),
    ("channelData", "team"),
    ("channelData", "channel"),
    ("entities",),
    ("entities", 0),
    ("entities", 0, "text"),
    ("entities", 0, "mentioned"),
    ("entities", 0, "mentioned", "id"),
    ("entities", 0, "mentioned", "name"),
    ("membersAdded",),
    ("membersAdded", 0),
    ("membersAdded", 0, "id"),
    ("membersAdded", 0, "name"),
    ("attachments",),
    ("replyToId",),
    ("timestamp",),
    ("locale",),
    ("channelId",),
]
DELETE = object()


def base_activities(teams: Teams) -> list[dict[str, Any]]:
    """One of each kind the bot handles, as Teams sends it."""
    jane = {"id": "29:1JaneDoeAbC", "name": "Jane Doe"}
    message = teams.message("help directory", mentions=(jane,), channel=True)
    return [
        message,
        teams.message("me", sender=ANN),
        teams.activity("message", value={"command": "help checkin", "title": "x"}),
        teams.activity(
            "invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "data": {"command": "help"}}},
        ),
        teams.activity(
            "invoke",
            channel=True,
            name="composeExtension/fetchTask",
            value={
                "commandId": "saveToPractice",
                "commandContext": "message",
                "messagePayload": {
                    "id": "1700000000100",
                    "createdDateTime": "2025-03-03T09:30:00.000Z",
                    "linkToMessage": "https://teams.microsoft.com/l/message/19:x/1",
                    "from": {"user": {"id": jane["id"], "displayName": jane["name"]}},
                    "body": {"contentType": "html", "content": "<p>We ran a drop-in</p>"},
                },
            },
        ),
        teams.activity(
            "invoke",
            name="composeExtension/submitAction",
            value={"commandId": "saveToPractice", "data": {"command": "practice save 1"}},
        ),
        teams.activity(
            "conversationUpdate",
            channel=True,
            membersAdded=[BOT, jane],
        ),
        teams.activity("installationUpdate", action="add"),
    ]


def broken(activity: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    activity = copy.deepcopy(activity)
    node: Any = activity
    for key in path[:-1]:
        if isinstance(key, int):
            if not isinstance(node, list) or len(node) <= key:
                return activity
        elif not isinstance(node, dict) or key not in node:
            return activity
        node = node[key]
    last = path[-1]
    if isinstance(last, int):
        if isinstance(node, list) and len(node) > last:
            if value is DELETE:
                del node[last]
            else:
                node[last] = value
    elif isinstance(node, dict):
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return activity


# The ids a reply is addressed by go into the Bot Connector's URLs; one Teams would never send
# (a slash in it) gets a 404 from the connector, which the bot rightly logs as an error.
ADDRESSES = {("id",), ("replyToId",), ("conversation", "id")}


def damage_to(path: tuple[Any, ...]) -> st.SearchStrategy:
    if path in ADDRESSES:
        return st.one_of(st.just(DELETE), json_values.filter(lambda v: not isinstance(v, str)))
    return st.one_of(st.just(DELETE), json_values)


breakage = st.lists(
    st.sampled_from(FIELDS).flatmap(lambda path: st.tuples(st.just(path), damage_to(path))),
    min_size=1,
    max_size=4,
)


class ErrorLog(logging.Handler):
    """Errors our own code logs: a turn that failed is a crash even if the status was 2xx."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in {"bot", "dialogs", "storage", "scheduler"}:
            self.records.append(record)


# The properties exercise parsing at the edge, before any storage: they run on SQLite only (each
# example is a full request); what reaches the database from them (unstorable text, overlong
# ids) has its regression tests below, on both databases.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def errors() -> AsyncIterator[ErrorLog]:
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture
async def teams(make_settings, serve_app, connector: FakeConnector) -> AsyncIterator[Teams]:
    base = await serve_app(make_settings())
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector)


async def still_answers_help(teams: Teams, connector: FakeConnector) -> None:
    before = len(connector.sent)
    response = await teams.post(teams.message("help", sender=ANN))
    assert response.status in (200, 201)
    help_cards = [sent for sent in connector.sent[before:] if sent.card is not None]
    assert help_cards, "the app no longer answers help"
    assert ("Directory", {"command": "help directory"}) in help_cards[-1].buttons


@SQLITE_ONLY
@given(kind=st.integers(0, 7), damage=breakage)
@example(kind=0, damage=[(("entities", 0, "text"), 5)])
@example(kind=0, damage=[(("entities", 0), None)])
@example(kind=0, damage=[(("entities", 0, "type"), None)])
@example(kind=0, damage=[(("from", "name"), "x" * 300)])
@example(kind=1, damage=[(("from", "id"), "29:" + "x" * 300)])
@example(kind=1, damage=[(("id",), "9" * 300)])
@example(kind=1, damage=[(("text",), "help \x00")])
@example(kind=2, damage=[(("id",), {})])
@example(kind=1, damage=[(("from", "name"), "Ann \ud800")])
@example(kind=6, damage=[(("membersAdded", 0, "name"), "n" * 1000)])
async def test_a_broken_activity_gets_no_5xx_and_breaks_nothing(
    teams, connector, errors, kind, damage
):
    activity = base_activities(teams)[kind]
    for path, value in damage:
        activity = broken(activity, path, value)
    errors.records.clear()

    # As a stream: aiohttp's client warns about a large body passed as bytes (damage can make
    # one of nearly a megabyte), and the warning is an error here.
    body = io.BytesIO(json.dumps(activity).encode())
    headers = {"Content-Type": "application/json"}
    async with teams.session.post(teams.url, data=body, headers=headers) as response:
        await response.read()
        assert response.status < 500, (response.status, await response.text())

    assert [record.getMessage() for record in errors.records] == []
    await still_answers_help(teams, connector)


@SQLITE_ONLY
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        json_values.map(lambda value: json.dumps(value).encode()),
    ),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=latin-1", "text/plain", ""]
    ),
)
async def test_a_body_that_is_not_an_activity_gets_a_4xx(teams, connector, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    async with teams.session.post(teams.url, data=body, headers=headers) as response:
        assert 400 <= response.status < 500
    await still_answers_help(teams, connector)


async def test_a_body_over_the_bound_is_refused_with_413(teams, connector):
    activity = teams.message("help")
    activity["text"] = "x" * MAX_BODY
    body = io.BytesIO(json.dumps(activity).encode())
    headers = {"Content-Type": "application/json"}
    async with teams.session.post(teams.url, data=body, headers=headers) as response:
        assert response.status == 413
    assert connector.sent == []
    await still_answers_help(teams, connector)


# -- the crashes the properties found, one test each ---------------------------------------------


async def member_named(store: Store, user_id: str) -> tuple[str, str] | None:
    async with store.unit() as uow:
        identity = await uow.members.identity("teams", TENANT, user_id)
        if identity is None:
            return None
        member = await uow.members.get(identity.member_id)
        assert member is not None
        return member.display_name, identity.display_name


async def test_a_mention_whose_text_is_not_a_string_is_read_by_its_name(teams, connector, errors):
    activity = teams.message(f"help {mention(JANE)}", mentions=(JANE,), channel=True)
    activity["entities"][0]["text"] = 5

    response = await teams.post(activity)

    assert response.status in (200, 201)
    assert errors.records == []
    # "help <@29:1JaneDoeAbC>": the mention became Jane's id, and help says it knows no such topic.
    assert "There's no help topic `<@29:1JaneDoeAbC>`" in connector.texts()[-1]


async def test_an_invoke_partnerbot_does_not_take_gets_400(teams, connector):
    for name in (None, "composeExtension/query", "signin/verifyState", "task/fetch"):
        activity = teams.activity("invoke", value={"commandId": 5, "queryOptions": "x"})
        if name is not None:
            activity["name"] = name
        async with teams.session.post(teams.url, json=activity) as response:
            assert response.status == 400, name
            assert (await response.json())["value"]["code"] == "BadRequest"
    assert connector.sent == []


async def test_a_name_longer_than_its_column_is_cut_and_unstorable_characters_go(
    teams, connector, store
):
    await teams.say("me", sender={"id": "29:1Long", "name": "L" * 300})
    await teams.say("me", sender={"id": "29:1Odd", "name": "Ann\x00 \ud800Lee"})

    assert await member_named(store, "29:1Long") == ("L" * 199 + "…",) * 2
    assert await member_named(store, "29:1Odd") == ("Ann \ufffdLee",) * 2
    assert connector.texts()[-1].startswith("Welcome, Ann \ufffdLee!")


async def test_a_sender_id_longer_than_any_platform_gives_is_refused_and_nothing_is_kept(
    teams, connector, store
):
    overlong = "29:" + "x" * 300
    await teams.say("area add Marr", sender={"id": overlong, "name": "Mallory"})

    assert "an id longer than any Teams or Slack id" in connector.texts()[-1]
    assert await member_named(store, overlong) is None
    async with store.unit() as uow:
        assert await uow.areas.all() == []


async def test_an_overlong_activity_id_still_counts_once(teams, connector):
    activity = teams.message("help")
    activity["id"] = "9" * 300

    for _ in range(2):  # Teams re-sending a slow activity
        response = await teams.post(activity)
        assert response.status in (200, 201)

    assert len(connector.cards()) == 1


async def test_a_mention_of_an_id_longer_than_any_platform_gives_is_refused(teams, connector):
    await teams.say("me")  # Ann, the first to talk: coordinator in development
    await teams.say(f"role <@29:{'x' * 300}> coordinator")

    assert connector.texts()[-1] == "That mention names no one I could know: its id is too long."


async def test_an_over_long_command_gets_a_clear_answer(teams, connector):
    await teams.say("practice search " + "word " * 1000)

    [card] = connector.cards()[-1:]
    assert card.card_texts[0] == ("Sorry, that is too long (5015 characters; the most is 4000).")
