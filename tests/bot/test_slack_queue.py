"""The work after Slack's acks (bot/slack.py SlackEdge): while requests to the events endpoint are
being answered only WORK_WHILE_ACKING turns start, all WORK_AT_ONCE once they stop, and at
shutdown what is still queued after the grace is dropped and counted in the log. Driven over
HTTP against the real app; the fake Slack holds response_urls to see how many turns are open."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.slack import SLACK_EDGE, WORK_AT_ONCE, WORK_WHILE_ACKING, SlackEdge
from tests.bot.conftest import slack_settings
from tests.bot.fake_slack import FakeSlack, SlackSender
from tests.bot.test_slack import direct, envelope, slash

USERS = {f"U{n}": f"Member {n}" for n in range(1, 40)}


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users=USERS)
    await fake.start()
    yield fake
    fake.response_gate = None
    await fake.close()


@pytest.fixture
async def served(
    fake_slack: FakeSlack, make_settings: Callable[..., Any]
) -> AsyncIterator[tuple[SlackSender, SlackEdge]]:
    app = create_app(slack_settings(make_settings, fake_slack))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        sender = SlackSender(str(server.make_url("/slack/events")))
        sender.base = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
        yield sender, app[SLACK_EDGE]
    finally:
        if fake_slack.response_gate is not None:
            fake_slack.response_gate.set()
        await server.close()


async def held(fake: FakeSlack, count: int) -> None:
    """Until ``count`` response_url requests are held at the fake."""
    for _ in range(200):
        if fake.responding >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{fake.responding} turns reached Slack, not {count}")


async def scraped(base: str) -> dict[str, float]:
    """The app's /metrics, sample name -> value (unlabelled samples)."""
    async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as response:
        text = await response.text()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def acked_helps(slack: SlackSender, fake: FakeSlack, users: list[str]) -> None:
    """A help from each of ``users``, each acked at once, until the first turns reach Slack."""
    for user in users:
        assert await slack.command(slash(fake, "help", response=user, user=user)) == (200, "")
    await held(fake, WORK_WHILE_ACKING)


async def first_command(slack: SlackSender, fake: FakeSlack) -> None:
    # Answered with nothing held: the bot learns who it is, U1 becomes the coordinator.
    await slack.command(slash(fake, "help", response="first", user="U1"))
    await fake.wait_for("response/first", count=2)


async def test_while_acks_are_answered_only_a_few_turns_start(served, fake_slack) -> None:
    slack, edge = served
    await first_command(slack, fake_slack)
    fake_slack.response_gate = asyncio.Event()
    users = [f"U{n}" for n in range(2, 2 + WORK_AT_ONCE + 4)]

    with edge.acking():  # as if a request to the events endpoint were still being answered
        acks = await asyncio.gather(
            *(slack.command(slash(fake_slack, "help", response=u, user=u)) for u in users)
        )
        await held(fake_slack, WORK_WHILE_ACKING)
        await asyncio.sleep(0.2)
        assert fake_slack.most_responding == WORK_WHILE_ACKING
    assert set(acks) == {(200, "")}

    # The requests are over: every worker takes the queue.
    await held(fake_slack, WORK_AT_ONCE)
    await asyncio.sleep(0.1)
    assert fake_slack.most_responding == WORK_AT_ONCE
    fake_slack.response_gate.set()
    await asyncio.wait_for(edge.idle(), timeout=10)
    for user in users:  # a welcome and the help, in order
        welcome, help_ = await fake_slack.wait_for(f"response/{user}", count=2)
        assert welcome.body["text"].startswith(f"Welcome, Member {user[1:]}!")
        assert ("Directory", "help directory") in help_.buttons()


async def test_at_shutdown_work_still_queued_after_the_grace_is_dropped_and_counted(
    served, fake_slack, caplog
) -> None:
    slack, edge = served
    await first_command(slack, fake_slack)
    fake_slack.response_gate = asyncio.Event()
    users = [f"U{n}" for n in range(2, 12)]
    with edge.acking():
        await acked_helps(slack, fake_slack, users)

        with caplog.at_level(logging.WARNING, logger="bot.slack"):
            await edge.finish(grace=0.2)
    waiting = len(users) - WORK_WHILE_ACKING
    assert f"{waiting} acked Slack payloads were not worked on" in caplog.text
    fake_slack.response_gate.set()
    await asyncio.sleep(0.3)
    answered = {call.method for call in fake_slack.calls if call.method.startswith("response/U")}
    # The turns under way when the server stopped were stopped too; none of the rest started.
    assert answered <= {f"response/{user}" for user in users[:WORK_WHILE_ACKING]}


async def test_over_its_backlog_the_bot_refuses_what_it_cannot_take_and_loses_nothing_taken(
    served, fake_slack, caplog
) -> None:
    slack, edge = served
    await first_command(slack, fake_slack)
    fake_slack.response_gate = asyncio.Event()
    edge.max_waiting = 3
    taken = [f"U{n}" for n in range(2, 2 + WORK_WHILE_ACKING + 3)]
    with edge.acking():
        await acked_helps(slack, fake_slack, taken)

        with caplog.at_level(logging.WARNING, logger="bot.slack"):
            status, body = await slack.command(slash(fake_slack, "help", response="late"))
            event_status, _ = await slack.event(
                envelope(direct("me", ts="1700000900.000900"), event_id="EvBusy")
            )
        metrics = await scraped(slack.base)
    # The command's sender is told, in the ack Slack shows them; the event is for Slack to retry.
    assert status == 200
    assert json.loads(body) == {
        "response_type": "ephemeral",
        "text": "partnerbot is very busy just now and could not take that. "
        "Please try again in a minute.",
    }
    assert event_status == 503
    assert "Slack requests refused, 3 acked payloads waiting" in caplog.text
    assert metrics["partnerbot_slack_refused_total"] == 2
    assert metrics["partnerbot_slack_waiting_payloads"] == 3

    fake_slack.response_gate.set()
    await asyncio.wait_for(edge.idle(), timeout=10)
    for user in taken:
        (*_, help_) = await fake_slack.wait_for(f"response/{user}", count=2)
        assert ("Directory", "help directory") in help_.buttons()
    assert fake_slack.calls_to("response/late") == []
    assert fake_slack.calls_to("chat.postMessage") == []  # the refused DM was never answered
    # The backlog gone, the next command is taken again.
    assert await slack.command(slash(fake_slack, "me", response="after")) == (200, "")
    await fake_slack.wait_for("response/after")
