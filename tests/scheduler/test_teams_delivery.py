"""The delivery engine's Teams half: the real TeamsSender (botbuilder CloudAdapter, development
mode) against a fake Bot Connector on loopback, on a virtual clock, on both databases."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.teams_send import TeamsSender
from dialogs.outbox import Kind, ToConversation, ToMember, queue
from dialogs.views import Paragraph, View
from scheduler.dispatcher import Dispatcher, DispatchPolicy
from storage.db import is_sqlite
from storage.outbox import Status
from tests.bot.fake_connector import Failure, FakeConnector
from tests.scheduler.fakes import VirtualClock, run_paced

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:7b3f2a1e-partnerbot", "name": "partnerbot"}
ANN = {"id": "29:1AnnLeeXyZ", "name": "Ann Lee", "aadObjectId": "6a1c-ann"}
RAJ = {"id": "29:1RajPatelQrS", "name": "Raj Patel", "aadObjectId": "9f3a-raj"}
CHANNEL_ID = "19:team-general@thread.tacv2"
PERSONAL_ID = "a:1personal-chat-with-ann"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def connector(clock):
    # Teams' per-conversation limits that a test can trip within a run (DESIGN.md).
    fake = FakeConnector(clock=clock.monotonic, limits=((7, 1.0), (8, 2.0)))
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def sender(make_settings) -> AsyncIterator[TeamsSender]:
    sender = TeamsSender.from_settings(make_settings())  # empty app id: no auth, as the emulator
    yield sender
    await sender.close()


def dispatcher(store, database_url, sender, clock, **policy) -> Dispatcher:
    return Dispatcher(
        store,
        {"teams": sender},
        clock=clock,
        owner="d1",
        single_process=is_sqlite(database_url),
        policy=DispatchPolicy(**policy),
    )


def personal_reference(service_url: str, user: dict = ANN, chat: str = PERSONAL_ID) -> dict:
    """What the bot stores when a member writes to it in their personal chat."""
    return {
        "user": user,
        "bot": BOT,
        "conversation": {"conversationType": "personal", "id": chat, "tenantId": TENANT},
        "channelId": "msteams",
        "locale": "en-GB",
        "serviceUrl": service_url,
    }


def channel_reference(service_url: str) -> dict:
    """What the bot stores for a team channel: the channel itself, no user, no thread."""
    return {
        "bot": BOT,
        "conversation": {
            "isGroup": True,
            "conversationType": "channel",
            "id": CHANNEL_ID,
            "tenantId": TENANT,
        },
        "channelId": "msteams",
        "serviceUrl": service_url,
    }


async def channel(store, reference: dict[str, Any]) -> int:
    async with store.unit() as uow:
        row = await uow.conversations.remember(
            platform="teams",
            tenant_id=TENANT,
            conversation_id=CHANNEL_ID,
            kind="channel",
            name="Marr Partnership / General",
            reference=reference,
            now=START,
        )
        return row.id


async def member(store, user: dict = ANN, reference: dict[str, Any] | None = None) -> int:
    async with store.unit() as uow:
        row, identity = await uow.members.register(
            platform="teams",
            tenant_id=TENANT,
            user_id=user["id"],
            display_name=user["name"],
            now=START,
        )
        if reference is not None:
            identity.conversation_reference = reference
            identity.dm_channel_id = reference["conversation"]["id"]
        return row.id


async def identity_of(store, user: dict = ANN):
    async with store.unit() as uow:
        return await uow.members.identity("teams", TENANT, user["id"])


async def put(store, key, to, *, due=START, text=None):
    """Queue a one-paragraph message (Teams gets it as plain text, not a card)."""
    text = text or key
    view = View(text, (Paragraph(text),))
    async with store.unit() as uow:
        return await queue(uow, key=key, kind=Kind.NOTICE, to=to, view=view, due_at=due, now=START)


async def status_of(store, key):
    async with store.unit() as uow:
        return await uow.outbox.by_key(key)


async def test_a_member_with_a_personal_chat_gets_the_message_there(
    store, database_url, sender, connector, clock
):
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    await put(store, "notice:1", ann, text="The Marr forum moves to Room 2")
    report = await dispatcher(store, database_url, sender, clock).run_once(START)
    assert (report.claimed, report.sent) == (1, 1)
    (received,) = connector.sent
    assert received.conversation_id == PERSONAL_ID
    assert received.text == "The Marr forum moves to Room 2"
    assert received.activity["type"] == "message"
    assert received.activity["from"]["id"] == BOT["id"]
    assert received.authorization is None  # development mode: no token
    assert connector.created == []
    row = await status_of(store, "notice:1")
    assert row.status == Status.SENT and row.attempts == 1 and row.sent_at is not None
    assert row.platform_message_id == "bot-activity-1"


async def test_a_channel_gets_the_message_in_the_channel(
    store, database_url, sender, connector, clock
):
    room = ToConversation(await channel(store, channel_reference(connector.url)))
    await put(store, "notice:room", room, text="Forum on Thursday")
    report = await dispatcher(store, database_url, sender, clock).run_once(START)
    assert report.sent == 1
    assert [(s.conversation_id, s.text) for s in connector.sent] == [
        (CHANNEL_ID, "Forum on Thursday")
    ]
    row = await status_of(store, "notice:room")
    assert row.status == Status.SENT and row.platform_message_id == "bot-activity-1"


async def test_a_member_known_only_from_a_channel_gets_a_new_personal_chat_once(
    store, database_url, sender, connector, clock
):
    await channel(store, channel_reference(connector.url))
    raj = ToMember(await member(store, RAJ))  # seen in the channel, never wrote to the bot
    await put(store, "first", raj, text="Please answer the check-in")
    assert (await dispatcher(store, database_url, sender, clock).run_once(START)).sent == 1
    (created,) = connector.created
    assert [m["id"] for m in created["members"]] == [RAJ["id"]]
    # botbuilder spells it "tenantID"; the connector reads JSON case-insensitively, and Teams
    # itself goes by channelData.tenant.id.
    assert {key.lower(): value for key, value in created.items()}["tenantid"] == TENANT
    assert created["channelData"] == {"tenant": {"id": TENANT}}
    assert created["bot"]["id"] == BOT["id"] and created["isGroup"] is False
    new_chat = "a:created-1"
    assert [(s.conversation_id, s.text) for s in connector.sent] == [
        (new_chat, "Please answer the check-in")
    ]
    saved = await identity_of(store, RAJ)
    assert saved.conversation_reference["conversation"]["id"] == new_chat
    assert saved.conversation_reference["serviceUrl"] == connector.url
    assert (await status_of(store, "first")).status == Status.SENT

    await put(store, "second", raj, text="A reminder", due=clock.now())
    assert (await dispatcher(store, database_url, sender, clock).run_once(clock.now())).sent == 1
    assert len(connector.created) == 1  # straight to the stored chat this time
    assert [(s.conversation_id, s.text) for s in connector.sent][1:] == [(new_chat, "A reminder")]


@pytest.mark.parametrize(
    "code", ["ConversationBlockedByUser", "MessageWritesBlocked", "BotNotInConversationRoster"]
)
async def test_a_403_marks_the_member_unreachable_and_stops_sending(
    store, database_url, sender, connector, clock, code
):
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    for n in range(3):
        await put(store, f"blocked:{n}", ann)
    connector.script[PERSONAL_ID] = [Failure(403, code)]
    report = await dispatcher(store, database_url, sender, clock).run_once(START)
    assert (report.unreachable, report.failed, report.sent) == (1, 3, 0)
    assert connector.attempts(PERSONAL_ID) == 1 and connector.sent == []
    for n in range(3):
        row = await status_of(store, f"blocked:{n}")
        assert row.status == Status.FAILED and row.last_error == f"unreachable: {code}"
    saved = await identity_of(store)
    assert saved.unreachable_reason == code and saved.unreachable_at is not None

    await put(store, "blocked:later", ann, due=clock.now())
    await dispatcher(store, database_url, sender, clock).run_once(clock.advance(minutes=5))
    later = await status_of(store, "blocked:later")
    assert later.status == Status.FAILED and "no reachable destination" in later.last_error
    assert connector.attempts(PERSONAL_ID) == 1


async def test_a_429_waits_for_retry_after_and_the_sdk_does_not_retry_by_itself(
    store, database_url, sender, connector, clock
):
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    await put(store, "limited", ann)
    connector.script[PERSONAL_ID] = [Failure(429, "TooManyRequests", {"Retry-After": "7"})]
    started = time.monotonic()
    report = await run_paced(dispatcher(store, database_url, sender, clock), clock, store)
    assert (report.rate_limited, report.sent) == (1, 1)
    assert connector.attempts(PERSONAL_ID) == 2  # ours: one 429, one success
    (refused,) = connector.refused
    (accepted,) = connector.sent
    assert refused.status == 429 and accepted.at - refused.at >= 7
    assert time.monotonic() - started < 3  # the 7 s went by on the virtual clock
    row = await status_of(store, "limited")
    assert row.status == Status.SENT and row.attempts == 2


async def test_a_500_is_retried_later_by_the_dispatcher_not_by_the_sdk(
    store, database_url, sender, connector, clock
):
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    await put(store, "flaky", ann)
    connector.script[PERSONAL_ID] = [Failure(500, "InternalServerError")]
    run = dispatcher(store, database_url, sender, clock)
    assert (await run.run_once(START)).retried == 1
    assert connector.attempts(PERSONAL_ID) == 1  # no retry inside msrest
    first = await status_of(store, "flaky")
    assert first.status == Status.PENDING and first.attempts == 1
    assert first.next_attempt_at > START and "500" in first.last_error
    assert (await run.run_once(clock.now())).claimed == 0  # not before its backoff
    assert (await run.run_once(clock.advance(minutes=10))).sent == 1
    assert [s.text for s in connector.sent] == ["flaky"]
    done = await status_of(store, "flaky")
    assert done.status == Status.SENT and done.attempts == 2


async def test_a_connection_error_is_retried_later_without_the_sdk_sleeping(
    store, database_url, sender, clock
):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    ann = ToMember(await member(store, reference=personal_reference(closed)))
    await put(store, "offline", ann)
    started = time.monotonic()
    assert (await dispatcher(store, database_url, sender, clock).run_once(START)).retried == 1
    # msrest's default policy would retry three times with 4.8 s of real backoff.
    assert time.monotonic() - started < 3
    row = await status_of(store, "offline")
    assert row.status == Status.PENDING and row.last_error.startswith("connection")


async def test_a_fan_out_to_one_channel_stays_within_teams_limits(
    store, database_url, sender, connector, clock
):
    room = ToConversation(await channel(store, channel_reference(connector.url)))
    for n in range(20):
        await put(store, f"fan:{n:02d}", room)
    report = await run_paced(dispatcher(store, database_url, sender, clock), clock, store)
    assert report.sent == 20
    assert connector.refused == []  # never faster than the limits, so Teams never said 429
    assert [s.text for s in connector.sent] == [f"fan:{n:02d}" for n in range(20)]
    times = [s.at for s in connector.sent]
    for first, _ in enumerate(times):
        assert sum(1 for t in times[first:] if t < times[first] + 1.0) <= 7
        assert sum(1 for t in times[first:] if t < times[first] + 2.0) <= 8
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert times[-1] - times[0] >= 4.0  # 20 messages at 8 per 2 s take more than 4 s


async def test_sends_reuse_one_connector_client_and_its_connection(
    store, database_url, sender, connector, clock
):
    # Stock botbuilder makes a connector client (and a connection) for every proactive send.
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    for n in range(4):
        await put(store, f"notice:{n}", ann)
    assert (await dispatcher(store, database_url, sender, clock).run_once(START)).sent == 4
    assert [s.text for s in connector.sent] == [f"notice:{n}" for n in range(4)]
    assert len({s.peer for s in connector.sent}) == 1


async def test_any_other_403_fails_that_message_visibly_but_keeps_the_member_reachable(
    store, database_url, sender, connector, clock
):
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    await put(store, "refused", ann)
    await put(store, "next", ann)
    connector.script[PERSONAL_ID] = [Failure(403, "InsufficientPermissions")]
    report = await dispatcher(store, database_url, sender, clock).run_once(START)
    assert (report.unreachable, report.failed, report.sent) == (0, 1, 1)
    refused = await status_of(store, "refused")
    assert refused.status == Status.FAILED
    assert refused.last_error == "rejected: 403 InsufficientPermissions"
    assert [s.text for s in connector.sent] == ["next"]  # the member still gets messages
    saved = await identity_of(store)
    assert saved.unreachable_at is None and saved.unreachable_reason is None


async def test_a_412_is_retried_later_with_backoff(store, database_url, sender, connector, clock):
    ann = ToMember(await member(store, reference=personal_reference(connector.url)))
    await put(store, "precondition", ann)
    connector.script[PERSONAL_ID] = [Failure(412, "PreconditionFailed")]
    run = dispatcher(store, database_url, sender, clock)
    assert (await run.run_once(START)).retried == 1
    first = await status_of(store, "precondition")
    assert first.status == Status.PENDING and first.attempts == 1
    assert first.next_attempt_at > START and first.last_error == "412 PreconditionFailed"
    assert (await run.run_once(clock.now())).claimed == 0  # not before its backoff
    assert (await run.run_once(first.next_attempt_at)).sent == 1
    assert [s.text for s in connector.sent] == ["precondition"]
    done = await status_of(store, "precondition")
    assert done.status == Status.SENT and done.attempts == 2
    assert (await identity_of(store)).unreachable_at is None
