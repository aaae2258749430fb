"""The delivery engine against a fake Slack Web API, on a virtual clock, on both databases."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from dialogs.outbox import Kind, ToConversation, ToMember, queue
from dialogs.views import View
from scheduler.clock import SystemClock
from scheduler.dispatcher import Dispatcher, DispatchPolicy
from scheduler.pacing import PLATFORM_LIMITS, LocalPacer
from scheduler.runner import DeliveryService
from storage.db import is_sqlite
from storage.outbox import Status
from tests.scheduler.fakes import LimitedSlack, VirtualClock, run_paced, slack_sender

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


def dispatcher(store, database_url, slack, clock, owner="d1", **policy) -> Dispatcher:
    return Dispatcher(
        store,
        {"slack": slack_sender(slack)},
        clock=clock,
        owner=owner,
        single_process=is_sqlite(database_url),
        policy=DispatchPolicy(**policy),
    )


async def channel(store, conversation_id="C1") -> int:
    async with store.unit() as uow:
        row = await uow.conversations.remember(
            platform="slack",
            tenant_id="T1",
            conversation_id=conversation_id,
            kind="channel",
            name="marr",
            reference=None,
            now=START,
        )
        return row.id


async def member(store, user_id="U1", dm="D1") -> int:
    async with store.unit() as uow:
        row, identity = await uow.members.register(
            platform="slack", tenant_id="T1", user_id=user_id, display_name=user_id, now=START
        )
        identity.dm_channel_id = dm
        return row.id


async def put(store, key, to, *, due=START, text=None, kind=Kind.NOTICE, not_after=None):
    async with store.unit() as uow:
        return await queue(
            uow,
            key=key,
            kind=kind,
            to=to,
            view=View(text or key),
            due_at=due,
            now=START,
            not_after=not_after,
        )


async def status_of(store, key):
    async with store.unit() as uow:
        return await uow.outbox.by_key(key)


async def test_queuing_the_same_key_twice_queues_once(store):
    target = ToConversation(await channel(store))
    assert await put(store, "meeting:42:remind:1d:member:7", target) is True
    assert await put(store, "meeting:42:remind:1d:member:7", target, text="again") is False
    async with store.unit() as uow:
        assert await uow.outbox.counts() == {"pending": 1}
        assert (await uow.outbox.by_key("meeting:42:remind:1d:member:7")).view[
            "summary"
        ] == "meeting:42:remind:1d:member:7"


async def test_due_messages_are_sent_once_and_recorded(store, database_url, slack, clock):
    room = ToConversation(await channel(store))
    ann = ToMember(await member(store))
    await put(store, "now:1", room)
    await put(store, "now:2", ann)
    await put(store, "later", room, due=START + timedelta(hours=1))
    report = await dispatcher(store, database_url, slack, clock).run_once(START)
    assert (report.sent, report.claimed) == (2, 2)
    assert sorted((ch, text) for _, ch, text in slack.accepted) == [
        ("C1", "now:1"),
        ("D1", "now:2"),
    ]
    sent = await status_of(store, "now:1")
    assert sent.status == Status.SENT and sent.sent_at is not None
    assert sent.platform_message_id and sent.attempts == 1
    assert (await status_of(store, "later")).status == Status.PENDING
    again = await dispatcher(store, database_url, slack, clock).run_once(clock.now())
    assert again.sent == 0 and len(slack.accepted) == 2


async def test_after_a_restart_due_messages_go_once_and_stale_ones_are_skipped(
    store, database_url, slack, clock
):
    room = ToConversation(await channel(store))
    # Both fell due while the bot was down; the reminder's meeting started at 09:30.
    await put(store, "notice", room, due=START)
    await put(
        store,
        "meeting:1:remind:1h",
        room,
        kind=Kind.MEETING_REMINDER,
        due=START,
        not_after=START + timedelta(minutes=30),
    )
    restarted_at = clock.advance(hours=2)
    report = await dispatcher(store, database_url, slack, clock).run_once(restarted_at)
    assert (report.sent, report.skipped) == (1, 1)
    assert [text for _, _, text in slack.accepted] == ["notice"]
    skipped = await status_of(store, "meeting:1:remind:1h")
    assert skipped.status == Status.SKIPPED and "too late" in skipped.last_error
    await dispatcher(store, database_url, slack, clock).run_once(clock.advance(minutes=1))
    assert len(slack.accepted) == 1


async def test_a_fan_out_to_one_channel_is_paced_at_one_per_second(
    store, database_url, slack, clock
):
    room = ToConversation(await channel(store))
    for n in range(100):
        await put(store, f"fan:{n:03d}", room)
    report = await run_paced(dispatcher(store, database_url, slack, clock), clock, store)
    assert report.sent == 100
    assert slack.refusals == []  # never faster than the limit, so Slack never said 429
    times = [t for t, _, _ in slack.accepted]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    assert [text for _, _, text in slack.accepted] == [f"fan:{n:03d}" for n in range(100)]


async def test_a_fan_out_across_channels_keeps_to_the_workspace_pace(clock):
    # At the limiter: sends to 40 channels of one workspace, 32 at a time as the dispatcher
    # sends. (At the fake, concurrent sends on a virtual clock all arrive at the last instant.)
    limiter = LocalPacer(clock)
    slack = PLATFORM_LIMITS["slack"]
    start = clock.monotonic()

    async def send(n: int) -> float:
        await limiter.acquire(
            (f"slack:T1:C{n:02d}", slack.per_target), ("slack:T1:app", slack.per_app)
        )
        return clock.monotonic() - start

    times = sorted(await asyncio.gather(*(send(n) for n in range(40))))
    assert all(b - a >= 1.0 for a, b in zip(times, times[10:], strict=False))
    assert times[9] == 0.0  # the first ten go at once


async def test_a_slack_429_holds_the_whole_workspace_for_retry_after(
    store, database_url, slack, clock
):
    engine = dispatcher(store, database_url, slack, clock, max_inline_wait=1.0)
    await put(store, "first", ToConversation(await channel(store, "C1")))
    slack.script["C1"] = [(429, {"Retry-After": "5"})]
    report = await engine.run_once(START)
    assert (report.rate_limited, report.sent) == (1, 0)  # put back for later
    ((refused_at, _, _),) = slack.refusals
    # Another channel of the same workspace waits out the Retry-After too.
    await put(store, "second", ToConversation(await channel(store, "C2")), due=clock.now())
    assert (await engine.run_once(clock.now())).deferred == 1
    await run_paced(engine, clock, store)
    accepted = {where: at for at, where, _ in slack.accepted}
    assert accepted.keys() == {"C1", "C2"} and accepted["C2"] - refused_at >= 5


async def test_a_429_waits_for_retry_after(store, database_url, slack, clock):
    room = ToConversation(await channel(store))
    await put(store, "limited", room)
    slack.script["C1"] = [(429, {"Retry-After": "7"})]
    report = await run_paced(dispatcher(store, database_url, slack, clock), clock, store)
    assert (report.rate_limited, report.sent) == (1, 1)
    ((refused_at, _, status),) = slack.refusals
    ((accepted_at, _, _),) = slack.accepted
    assert status == 429 and accepted_at - refused_at >= 7
    assert (await status_of(store, "limited")).attempts == 2


async def test_server_errors_retry_with_backoff_then_fail_visibly(
    store, database_url, slack, clock
):
    room = ToConversation(await channel(store))
    await put(store, "flaky", room)
    slack.script["C1"] = [(503, {})] * 3
    run = dispatcher(store, database_url, slack, clock, max_attempts=3)
    await run.run_once(START)
    first = await status_of(store, "flaky")
    assert first.status == Status.PENDING and first.attempts == 1
    assert first.next_attempt_at > START  # backoff, with jitter
    assert "503" in first.last_error
    # Not before its backoff...
    assert (await run.run_once(first.next_attempt_at - timedelta(seconds=0.5))).claimed == 0
    await run.run_once(clock.advance(minutes=10))
    await run.run_once(clock.advance(minutes=10))
    failed = await status_of(store, "flaky")
    assert failed.status == Status.FAILED and failed.attempts == 3
    assert "gave up after 3 attempts" in failed.last_error
    assert slack.accepted == []


async def test_an_unreachable_channel_is_marked_and_not_tried_again(
    store, database_url, slack, clock
):
    room = ToConversation(await channel(store, "CGONE"))
    for n in range(3):
        await put(store, f"gone:{n}", room)
    slack.gone.add("CGONE")
    report = await dispatcher(store, database_url, slack, clock).run_once(START)
    assert (report.unreachable, report.failed, report.sent) == (1, 3, 0)
    async with store.unit() as uow:
        saved = await uow.conversations.find("slack", "T1", "CGONE")
        assert saved.unreachable_reason == "channel_not_found"
    calls = len(slack.calls_to("chat.postMessage"))
    assert calls == 0  # LimitedSlack answers gone channels before recording; nothing accepted
    await put(store, "gone:later", room)
    await dispatcher(store, database_url, slack, clock).run_once(clock.advance(minutes=1))
    later = await status_of(store, "gone:later")
    assert later.status == Status.FAILED and "no reachable destination" in later.last_error


async def test_a_member_without_a_dm_gets_one_opened_and_stored(store, database_url, slack, clock):
    member_id = await member(store, "U9", dm=None)
    await put(store, "dm", ToMember(member_id))
    await dispatcher(store, database_url, slack, clock).run_once(START)
    assert [call.body["users"] for call in slack.calls_to("conversations.open")] == ["U9"]
    assert [(ch, text) for _, ch, text in slack.accepted] == [("DU9", "dm")]
    async with store.unit() as uow:
        assert (await uow.members.identity("slack", "T1", "U9")).dm_channel_id == "DU9"


async def test_on_sqlite_a_second_dispatcher_refuses_to_claim(store, database_url, slack, clock):
    if not is_sqlite(database_url):
        pytest.skip("PostgreSQL dispatchers share work with SKIP LOCKED instead")
    room = ToConversation(await channel(store))
    await put(store, "one", room)
    first = dispatcher(store, database_url, slack, clock, owner="first")
    second = dispatcher(store, database_url, slack, clock, owner="second")
    assert (await first.run_once(START)).sent == 1
    await put(store, "two", room, due=clock.now())
    assert (await second.run_once(clock.advance(seconds=5))).refused is True
    assert (await status_of(store, "two")).status == Status.PENDING
    await first.release()  # a graceful stop hands the lock over
    assert (await second.run_once(clock.advance(seconds=5))).sent == 1


async def test_a_dead_dispatchers_lease_expires_and_its_rows_are_sent_once(
    store, database_url, slack, clock
):
    room = ToConversation(await channel(store))
    await put(store, "orphan", room)
    async with store.unit() as uow:  # a dispatcher claims, then dies before sending
        claimed = await uow.outbox.claim_due(
            now=START, owner="dead", limit=10, lease=timedelta(minutes=2)
        )
        assert [row.key for row in claimed] == ["orphan"]
        if is_sqlite(database_url):
            await uow.locks.acquire(
                "outbox-dispatcher", owner="dead", now=START, ttl=timedelta(minutes=2)
            )
    survivor = dispatcher(store, database_url, slack, clock, owner="survivor")
    assert (await survivor.run_once(clock.advance(minutes=1))).sent == 0
    assert (await survivor.run_once(clock.advance(minutes=2))).sent == 1
    assert [text for _, _, text in slack.accepted] == ["orphan"]


class HeldSlack(LimitedSlack):
    """Holds every chat.postMessage until ``release`` is set."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def _api(self, request):
        if request.match_info["method"] == "chat.postMessage":
            self.arrived.set()
            await self.release.wait()
        return await super()._api(request)


async def test_stopping_mid_batch_lets_the_send_in_flight_finish_and_record(store, database_url):
    # The real scheduler on the real clock: APScheduler's own shutdown would cancel the batch.
    clock = SystemClock()
    held = HeldSlack()
    await held.start()
    try:
        await put(store, "notice:stop", ToConversation(await channel(store)), due=datetime.now(UTC))
        service = DeliveryService(dispatcher(store, database_url, held, clock), clock)
        service.start()
        await asyncio.wait_for(held.arrived.wait(), timeout=10)
        stopping = asyncio.create_task(service.stop())
        await asyncio.sleep(0.1)
        assert not stopping.done()  # waits for the send rather than abandoning the connection
        held.release.set()
        await asyncio.wait_for(stopping, timeout=10)
        assert (await status_of(store, "notice:stop")).status == Status.SENT
        assert [text for _, _, text in held.accepted] == ["notice:stop"]
    finally:
        await held.close()


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "account_inactive"])
async def test_a_slack_stop_code_marks_the_member_unreachable_and_stops_sending(
    store, database_url, slack, clock, code
):
    ann = ToMember(await member(store, "U7", dm="D7"))
    for n in range(3):
        await put(store, f"stop:{n}", ann)
    slack.errors["D7"] = code
    report = await dispatcher(store, database_url, slack, clock).run_once(START)
    assert (report.unreachable, report.failed, report.sent) == (1, 3, 0)
    assert len(slack.refusals) == 1  # one try, then no more to that member
    for n in range(3):
        row = await status_of(store, f"stop:{n}")
        assert row.status == Status.FAILED and row.last_error == f"unreachable: {code}"
    async with store.unit() as uow:
        saved = await uow.members.identity("slack", "T1", "U7")
    assert saved.unreachable_reason == code and saved.unreachable_at is not None
    await put(store, "stop:later", ann, due=clock.now())
    await dispatcher(store, database_url, slack, clock).run_once(clock.advance(minutes=1))
    later = await status_of(store, "stop:later")
    assert later.status == Status.FAILED and "no reachable destination" in later.last_error
    assert len(slack.refusals) == 1


async def test_any_other_slack_error_fails_that_message_but_keeps_the_channel(
    store, database_url, slack, clock
):
    room = ToConversation(await channel(store))
    await put(store, "too_long", room)
    slack.errors["C1"] = "msg_too_long"
    report = await dispatcher(store, database_url, slack, clock).run_once(START)
    assert (report.unreachable, report.failed) == (0, 1)
    assert (await status_of(store, "too_long")).last_error == "rejected: 200 msg_too_long"
    async with store.unit() as uow:
        assert (await uow.conversations.find("slack", "T1", "C1")).unreachable_at is None
    del slack.errors["C1"]
    await put(store, "fine", room, due=clock.now())
    assert (await dispatcher(store, database_url, slack, clock).run_once(clock.now())).sent == 1
