"""Pacing across platforms and across dispatchers, on a frozen clock: the time moves only between
ticks, a dispatcher never waits in-process, and the fakes stamp each accepted send with the
tick's time (which is the time the pacer decided it could go)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.teams_send import TeamsSender
from dialogs.outbox import Kind, ToConversation, queue
from dialogs.views import Paragraph, View
from scheduler.dispatcher import Dispatcher, DispatchPolicy
from storage.db import create_engine, is_sqlite
from storage.outbox import Status
from storage.repositories import Store
from tests.bot.fake_connector import FakeConnector
from tests.scheduler.fakes import FrozenClock, slack_sender

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:7b3f2a1e-partnerbot", "name": "partnerbot"}
TEAMS_LIMITS = ((7, 1.0), (8, 2.0), (60, 30.0))
TICK = 0.5


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def connector(clock):
    fake = FakeConnector(clock=clock.monotonic, limits=TEAMS_LIMITS)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def teams(make_settings) -> AsyncIterator[TeamsSender]:
    sender = TeamsSender.from_settings(make_settings())
    yield sender
    await sender.close()


def dispatcher(store, database_url, senders, clock, owner="d1", **policy) -> Dispatcher:
    # max_inline_wait=0: a target not ready now gets its rows back, due when it will be.
    return Dispatcher(
        store,
        senders,
        clock=clock,
        owner=owner,
        single_process=is_sqlite(database_url),
        policy=DispatchPolicy(max_inline_wait=0.0, **policy),
    )


async def conversation(store, platform: str, conversation_id: str, service_url: str = "") -> int:
    reference = None
    if platform == "teams":
        reference = {
            "bot": BOT,
            "conversation": {
                "isGroup": True,
                "conversationType": "channel",
                "id": conversation_id,
                "tenantId": TENANT,
            },
            "channelId": "msteams",
            "serviceUrl": service_url,
        }
    async with store.unit() as uow:
        row = await uow.conversations.remember(
            platform=platform,
            tenant_id="T1" if platform == "slack" else TENANT,
            conversation_id=conversation_id,
            kind="channel",
            name=conversation_id,
            reference=reference,
            now=START,
        )
        return row.id


async def fan_out(store, prefix: str, conversation_id: int, count: int) -> None:
    async with store.unit() as uow:
        for n in range(count):
            text = f"{prefix}:{n:03d}"
            await queue(
                uow,
                key=text,
                kind=Kind.NOTICE,
                to=ToConversation(conversation_id),
                view=View(text, (Paragraph(text),)),
                due_at=START,
                now=START,
            )


async def sent_count(store) -> int:
    async with store.unit() as uow:
        return (await uow.outbox.counts()).get(Status.SENT, 0)


def most_in_any(times: list[float], seconds: float) -> int:
    return max(
        (sum(1 for t in times if start <= t < start + seconds) for start in times), default=0
    )


async def test_a_slow_slack_channel_does_not_hold_up_teams_in_the_same_batch(
    store, database_url, slack, connector, teams, clock
):
    await fan_out(store, "slack", await conversation(store, "slack", "C1"), 100)
    for n in range(100):
        room = await conversation(store, "teams", f"19:room-{n}@thread.tacv2", connector.url)
        await fan_out(store, f"teams{n:03d}", room, 1)
    engine = dispatcher(store, database_url, {"slack": slack_sender(slack), "teams": teams}, clock)
    ticks = 0
    while await sent_count(store) < 200 and ticks < 400:
        await engine.run_once(clock.now())
        clock.advance(seconds=TICK)
        ticks += 1
    start = START.timestamp()
    teams_times = [s.at - start for s in connector.sent]
    slack_times = [at - start for at, _, _ in slack.accepted]
    assert len(teams_times) == 100 and len(slack_times) == 100
    # 50 a second per app and tenant: half at the first tick, the rest a second later, while
    # the Slack channel has had two of its hundred.
    assert sorted(set(teams_times)) == [0.0, 1.0]
    assert most_in_any(teams_times, 1.0) <= 50
    assert slack_times[:2] == [0.0, 1.0]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(slack_times))
    assert slack_times[-1] < 100.0  # and no slower than one a second
    assert [text for _, _, text in slack.accepted] == [f"slack:{n:03d}" for n in range(100)]
    assert slack.refusals == [] and connector.refused == []


async def test_two_dispatchers_on_postgresql_together_keep_to_each_targets_limits(
    store, database_url, slack, connector, teams, clock
):
    if is_sqlite(database_url):
        pytest.skip("on SQLite a second dispatcher refuses to claim")
    await fan_out(store, "slack", await conversation(store, "slack", "C1"), 40)
    room = await conversation(store, "teams", "19:general@thread.tacv2", connector.url)
    await fan_out(store, "teams", room, 70)
    other = Store(create_engine(database_url))  # another replica: its own engine and pool
    try:
        senders = {"slack": slack_sender(slack), "teams": teams}
        replicas = [
            dispatcher(store, database_url, senders, clock, owner="d1", batch=10),
            dispatcher(other, database_url, senders, clock, owner="d2", batch=10),
        ]
        sent = {"d1": 0, "d2": 0}
        ticks = 0
        while await sent_count(store) < 110 and ticks < 400:
            order = replicas if (ticks // 2) % 2 == 0 else replicas[::-1]  # take turns first
            reports = await asyncio.gather(*(r.run_once(clock.now()) for r in order))
            for replica, report in zip(order, reports, strict=True):
                sent[replica.owner] += report.sent
            clock.advance(seconds=TICK)
            ticks += 1
    finally:
        await other.close()
    assert sent["d1"] > 0 and sent["d2"] > 0 and sum(sent.values()) == 110
    slack_times = sorted(at for at, _, _ in slack.accepted)
    teams_times = sorted(s.at for s in connector.sent)
    assert len(slack_times) == 40 and len(teams_times) == 70
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(slack_times))
    for count, seconds in TEAMS_LIMITS:
        assert most_in_any(teams_times, seconds) <= count, (count, seconds)
    assert slack.refusals == [] and connector.refused == []  # neither platform said 429
    assert len({s.text for s in connector.sent}) == 70  # each once
