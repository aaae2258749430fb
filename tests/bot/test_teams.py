"""The Teams edge over real HTTP: activities posted to the real app's /api/messages exactly as
Teams sends them, replies read from a fake Bot Connector on loopback. Development mode (empty app
id): the SDK accepts the unauthenticated requests and sends its replies without a token."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from dialogs.messages import Platform
from storage.repositories import Store
from tests.bot.fake_connector import FakeConnector

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:7b3f2a1e-partnerbot", "name": "partnerbot"}
ANN = {"id": "29:1AnnLeeXyZ", "name": "Ann Lee", "aadObjectId": "6a1c-ann"}
JANE = {"id": "29:1JaneDoeAbC", "name": "Jane Doe", "aadObjectId": "8d2e-jane"}
RAJ = {"id": "29:1RajPatelQrS", "name": "Raj Patel", "aadObjectId": "9f3a-raj"}
TEAM = {"id": "19:team-general@thread.tacv2", "name": "Marr Partnership"}
CHANNEL_ID = "19:team-general@thread.tacv2"
PERSONAL_ID = "a:1personal-chat-with-ann"

_ids = itertools.count(1_700_000_000_000)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def teams(make_settings, serve_app, connector) -> AsyncIterator[Teams]:
    base = await serve_app(make_settings())
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector)


class Teams:
    """Posts activities the way the Teams service does."""

    def __init__(self, session: aiohttp.ClientSession, base: str, connector: FakeConnector):
        self.session = session
        self.url = base + "/api/messages"
        self.connector = connector
        self.service_url = connector.url

    def activity(self, kind: str, *, sender: dict = ANN, channel: bool = False, **fields) -> dict:
        activity_id = str(next(_ids))
        if channel:
            conversation = {
                "isGroup": True,
                "conversationType": "channel",
                "id": f"{CHANNEL_ID};messageid={activity_id}",
                "tenantId": TENANT,
            }
            channel_data = {
                "teamsChannelId": CHANNEL_ID,
                "teamsTeamId": TEAM["id"],
                "channel": {"id": CHANNEL_ID},
                "team": TEAM,
                "tenant": {"id": TENANT},
            }
        else:
            conversation = {"conversationType": "personal", "id": PERSONAL_ID, "tenantId": TENANT}
            channel_data = {"tenant": {"id": TENANT}}
        body = {
            "type": kind,
            "id": activity_id,
            "timestamp": "2025-03-03T09:30:00.1234567Z",
            "localTimestamp": "2025-03-03T09:30:00.1234567+00:00",
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": sender,
            "conversation": conversation,
            "recipient": BOT,
            "channelData": channel_data,
            "locale": "en-GB",
            "localTimezone": "Europe/London",
        }
        body.update(fields)
        return body

    def message(
        self, text: str, *, mentions: tuple[dict, ...] = (), channel: bool = False, **kw
    ) -> dict:
        entities: list[dict[str, Any]] = [
            {"type": "mention", "text": f"<at>{m['name']}</at>", "mentioned": m} for m in mentions
        ]
        entities.append(
            {
                "type": "clientInfo",
                "locale": "en-GB",
                "country": "GB",
                "platform": "Web",
                "timezone": "Europe/London",
            }
        )
        return self.activity(
            "message", text=text, textFormat="plain", entities=entities, channel=channel, **kw
        )

    async def post(self, activity: dict, *, token: str | None = None) -> aiohttp.ClientResponse:
        """POST ``activity``; with ``token``, signed as the Bot Framework signs it."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        async with self.session.post(self.url, json=activity, headers=headers) as response:
            await response.read()
            return response

    async def say(self, text: str, **kw) -> dict:
        activity = self.message(text, **kw)
        response = await self.post(activity)
        assert response.status in (200, 201), response.status
        return activity


def mention(person: dict) -> str:
    return f"<at>{person['name']}</at>"


async def test_personal_help_answers_with_a_card_of_topics_and_buttons(teams, connector):
    sent = await teams.say("help")

    cards = connector.cards()
    assert len(cards) == 1
    help_card = cards[0]
    assert any("directory - Your profile" in text for text in help_card.card_texts)
    assert help_card.buttons[:2] == [
        ("Directory", {"command": "help directory"}),
        ("Checkin", {"command": "help checkin"}),
    ]
    assert {title for title, _ in help_card.buttons} >= {"Meetings", "Practice", "Privacy"}
    assert help_card.activity["summary"].startswith("partnerbot help:")
    # First contact: a welcome in plain text before the card, all in Ann's chat, in reply.
    assert connector.texts()[0].startswith("Welcome, Ann Lee!")
    assert "`me area <area>`" in connector.texts()[0]
    assert {s.conversation_id for s in connector.sent} == {PERSONAL_ID}
    assert {s.reply_to_id for s in connector.sent} == {sent["id"]}
    assert {s.authorization for s in connector.sent} == {None}


async def test_channel_mention_is_answered_in_its_thread(teams, connector, store: Store):
    sent = await teams.say(f"{mention(BOT)} help", mentions=(BOT,), channel=True)

    assert connector.cards(), connector.sent
    for reply in connector.sent:
        assert reply.conversation_id == f"{CHANNEL_ID};messageid={sent['id']}"
        assert reply.reply_to_id == sent["id"]
    async with store.unit() as uow:
        channel = await uow.conversations.find(Platform.TEAMS, TENANT, CHANNEL_ID)
    assert channel is not None
    assert channel.kind == "channel"
    assert channel.name == "Marr Partnership"
    reference = channel.conversation_reference
    assert reference["conversation"]["id"] == CHANNEL_ID
    assert reference["serviceUrl"] == teams.service_url
    assert reference["bot"]["id"] == BOT["id"]
    assert "activityId" not in reference


async def test_joining_an_area_after_adding_it(teams, connector):
    await teams.say("area add Marr")
    connector.sent.clear()

    await teams.say("me area Marr")

    assert connector.texts() == ["You're now in Marr."]


@pytest.mark.parametrize(
    ("typed", "entities"),
    [
        (f"role {mention(JANE)} coordinator", (JANE,)),
        # Teams mentions a two-word name as two <at> tags for the same person.
        (
            "role <at>Jane</at> <at>Doe</at> coordinator",
            ({**JANE, "name": "Jane"}, {**JANE, "name": "Doe"}),
        ),
    ],
)
async def test_mentioning_a_member_gives_them_a_role(teams, connector, store, typed, entities):
    await teams.say("help")  # Ann becomes the first coordinator.
    message = teams.message(typed)
    message["entities"] = [
        {"type": "mention", "text": f"<at>{e['name']}</at>", "mentioned": e} for e in entities
    ]
    assert (await teams.post(message)).status in (200, 201)

    async with store.unit() as uow:
        identity = await uow.members.identity(Platform.TEAMS, TENANT, JANE["id"])
        assert identity is not None
        member = await uow.members.get(identity.member_id)
        roles = await uow.members.roles_of(identity.member_id)
    assert "coordinator" in roles
    assert member is not None and member.display_name.startswith("Jane")
    assert "Sorry" not in " ".join(connector.texts())


async def test_bot_added_to_a_channel_registers_members_and_the_channel(teams, connector, store):
    update = teams.activity(
        "conversationUpdate",
        channel=True,
        membersAdded=[{"id": BOT["id"]}, {"id": JANE["id"]}, {"id": RAJ["id"]}],
    )
    update["conversation"]["id"] = CHANNEL_ID
    update["channelData"]["eventType"] = "teamMemberAdded"

    response = await teams.post(update)

    assert response.status in (200, 201)
    async with store.unit() as uow:
        for person in (ANN, JANE, RAJ):
            assert await uow.members.identity(Platform.TEAMS, TENANT, person["id"]), person
        channel = await uow.conversations.find(Platform.TEAMS, TENANT, CHANNEL_ID)
    assert channel is not None
    assert channel.conversation_reference["conversation"]["id"] == CHANNEL_ID
    assert channel.conversation_reference["serviceUrl"] == teams.service_url
    [welcome] = connector.sent
    assert welcome.conversation_id == CHANNEL_ID
    assert welcome.reply_to_id is None
    assert "Hello! I'm partnerbot" in welcome.card_texts[0]
    assert ("Help", {"command": "help"}) in welcome.buttons


async def test_bot_installed_in_personal_chat_welcomes_once_and_keeps_the_reference(
    teams, connector, store
):
    install = teams.activity("installationUpdate", action="add")
    added = teams.activity(
        "conversationUpdate", membersAdded=[{"id": BOT["id"]}, {"id": ANN["id"]}]
    )

    for activity in (install, added):
        assert (await teams.post(activity)).status in (200, 201)

    async with store.unit() as uow:
        identity = await uow.members.identity(Platform.TEAMS, TENANT, ANN["id"])
    assert identity is not None
    assert identity.dm_channel_id == PERSONAL_ID
    assert identity.conversation_reference["conversation"]["id"] == PERSONAL_ID
    assert identity.conversation_reference["user"]["id"] == ANN["id"]
    assert len(connector.sent) == 1
    assert connector.sent[0].conversation_id == PERSONAL_ID
    assert "Hello! I'm partnerbot" in connector.sent[0].card_texts[0]


async def test_a_resent_activity_is_answered_once(teams, connector):
    await teams.say("help")
    connector.sent.clear()
    activity = teams.message("me area Nowhere")

    for _ in range(2):
        assert (await teams.post(activity)).status in (200, 201)

    assert len(connector.sent) == 1
    assert "There's no area called Nowhere." in connector.sent[0].card_texts[0]


async def test_replies_reuse_one_connector_client_and_its_connection(teams, connector):
    # Stock botbuilder makes a connector client, and opens a connection, for every turn.
    for command in ("help", "me", "areas", "help checkin"):
        await teams.say(command)

    assert len(connector.sent) >= 4
    assert len({sent.peer for sent in connector.sent}) == 1


async def test_action_submit_runs_the_buttons_command(teams, connector):
    press = teams.activity(
        "message",
        value={"command": "help directory"},
        replyToId="bot-activity-1",
    )

    assert (await teams.post(press)).status in (200, 201)

    [card] = connector.cards()
    assert card.card_texts[0] == "Help: Your profile, areas, roles, partners and experts"
    assert any("me area <area>" in text for text in card.card_texts)


async def test_action_execute_answers_the_invoke_and_sends_the_reply(teams, connector):
    invoke = teams.activity(
        "invoke",
        name="adaptiveCard/action",
        value={
            "action": {
                "type": "Action.Execute",
                "verb": "run",
                "data": {"command": "help directory"},
            },
            "trigger": "manual",
        },
    )

    async with teams.session.post(teams.url, json=invoke) as response:
        status, body = response.status, await response.json()

    assert status == 200
    assert body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Done.",
    }
    [card] = connector.cards()
    assert card.card_texts[0] == "Help: Your profile, areas, roles, partners and experts"


async def test_action_execute_without_a_command_is_refused(teams, connector):
    invoke = teams.activity(
        "invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": "run", "data": {}}},
    )

    async with teams.session.post(teams.url, json=invoke) as response:
        status, body = response.status, await response.json()

    assert status == 400
    assert body["type"] == "application/vnd.microsoft.error"
    assert connector.sent == []


JSON = {"Content-Type": "application/json"}
# (body, Content-Type, status): what is not a Bot Framework activity at all. None: no header.
NOT_ACTIVITIES = [
    (b"help", JSON, 400),
    (b'{"type": "message", "text": "help"', JSON, 400),
    (b'{"type": "message", "text": "help"}', None, 415),
    (b'{"type": "message", "text": "help"}', {"Content-Type": "text/plain"}, 415),
    (b'["message"]', JSON, 400),
    (b'"message"', JSON, 400),
    (b"", JSON, 400),
    (b"\xff\xfe", JSON, 400),
]
# JSON objects that are not usable activities, as changes to a good one.
BREAKAGES = [
    {"type": None},
    {"serviceUrl": None},
    {"from": "Ann"},
    {"conversation": {"conversationType": "personal"}},
    {"entities": "mention"},
    {"entities": [None]},
    {"entities": [{"text": "<at>Ann</at>"}]},
    {"timestamp": "yesterday"},
]


async def post_raw(teams: Teams, body: bytes, headers: dict[str, str] | None) -> int:
    # aiohttp would add "Content-Type: application/octet-stream" to a body sent without one.
    skip = () if headers else ("Content-Type",)
    async with teams.session.post(
        teams.url, data=body, headers=headers, skip_auto_headers=skip
    ) as response:
        return response.status


@pytest.mark.parametrize(("body", "headers", "status"), NOT_ACTIVITIES)
async def test_what_is_not_an_activity_gets_a_4xx_and_saves_nothing(
    teams, connector, store, body, headers, status
):
    assert await post_raw(teams, body, headers) == status

    async with store.unit() as uow:
        assert await uow.members.count() == 0
    assert connector.sent == []


@pytest.mark.parametrize("breakage", BREAKAGES)
async def test_a_malformed_activity_gets_a_400_and_saves_nothing(teams, connector, store, breakage):
    activity = teams.message("help")
    activity.update(breakage)

    response = await teams.post(activity)

    assert response.status == 400
    async with store.unit() as uow:
        assert await uow.members.count() == 0
    assert connector.sent == []


async def test_a_failure_in_the_core_is_logged_without_the_text_and_the_member_told(
    teams, connector, store, caplog
):
    # A real failure, not a mock: the table the core needs first is gone.
    async with store.engine.begin() as connection:
        await connection.execute(text("DROP TABLE processed_events"))
    caplog.set_level(logging.INFO)

    await teams.say("me org Confidential Trust")

    assert connector.texts() == ["Sorry, something went wrong. Please try again in a moment."]
    assert "partnerbot failed on a Teams message activity" in caplog.text
    assert "Confidential" not in caplog.text


async def test_with_an_app_id_an_unauthenticated_activity_is_refused(
    make_settings, serve_app, connector, store
):
    base = await serve_app(make_settings(teams_app_id="7b3f2a1e", teams_app_password="secret"))

    async with aiohttp.ClientSession() as session:
        teams = Teams(session, base, connector)
        response = await teams.post(teams.message("help"))

    assert response.status == 401
    async with store.unit() as uow:
        assert await uow.members.count() == 0
    assert connector.sent == []


async def test_group_chat_mention_reaches_the_core_and_the_chat_is_remembered(
    teams, connector, store
):
    message = teams.message(f"{mention(BOT)} me area Nowhere", mentions=(BOT,))
    message["conversation"] = {
        "isGroup": True,
        "conversationType": "groupChat",
        "id": "19:meeting-of-three@thread.v2",
        "tenantId": TENANT,
    }

    assert (await teams.post(message)).status in (200, 201)

    assert {s.conversation_id for s in connector.sent} == {"19:meeting-of-three@thread.v2"}
    assert any("There's no area called Nowhere." in t for s in connector.sent for t in s.card_texts)
    async with store.unit() as uow:
        chat = await uow.conversations.find(Platform.TEAMS, TENANT, "19:meeting-of-three@thread.v2")
    assert chat is not None and chat.kind == "group"
