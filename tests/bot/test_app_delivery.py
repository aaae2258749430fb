"""The web app runs the delivery engine itself: started in aiohttp's startup hook, stopped (and
its leases released) in cleanup."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import create_app
from dialogs.messages import Platform
from dialogs.outbox import Kind, ToConversation, ToMember, queue
from dialogs.views import Paragraph, View
from storage.models import Conversation
from storage.outbox import Status
from storage.repositories import UnitOfWork
from tests.bot.fake_connector import FakeConnector
from tests.bot.fake_slack import SECRET, TOKEN, FakeSlack
from tests.bot.flows import until
from tests.bot.test_teams import ANN, PERSONAL_ID, TENANT, Teams


async def marr_channel(uow: UnitOfWork, now: datetime) -> Conversation:
    """The Slack channel C1 (#marr), as the bot remembers a channel it is in."""
    return await uow.conversations.remember(
        platform="slack",
        tenant_id="T1",
        conversation_id="C1",
        kind="channel",
        name="marr",
        reference=None,
        now=now,
    )


async def test_a_queued_message_is_sent_by_the_running_app(make_settings, serve_app, store):
    slack = FakeSlack()
    await slack.start()
    try:
        settings = make_settings(
            slack_signing_secret=SECRET,
            slack_bot_token=TOKEN,
            slack_api_url=slack.api_url,
            dispatch_interval="0.1",
        )
        now = datetime.now(UTC)
        async with store.unit() as uow:
            channel = await marr_channel(uow, now)
            await queue(
                uow,
                key="notice:1",
                kind=Kind.NOTICE,
                to=ToConversation(channel.id),
                view=View("The Marr forum moves to Room 2"),
                due_at=now,
                now=now,
            )
            await queue(
                uow,
                key="notice:later",
                kind=Kind.NOTICE,
                to=ToConversation(channel.id),
                view=View("Not yet"),
                due_at=now + timedelta(days=1),
                now=now,
            )
        await serve_app(settings)
        (post,) = await slack.wait_for("chat.postMessage", within=10)
        assert post.body["channel"] == "C1"
        assert post.body["text"] == "The Marr forum moves to Room 2"
        for _ in range(100):  # the row is marked sent right after Slack accepts it
            async with store.unit() as uow:
                if (await uow.outbox.by_key("notice:1")).status == Status.SENT:
                    break
            await asyncio.sleep(0.05)
        async with store.unit() as uow:
            assert (await uow.outbox.by_key("notice:1")).status == Status.SENT
            assert (await uow.outbox.by_key("notice:later")).status == Status.PENDING
    finally:
        await slack.close()


async def test_teams_messages_it_sends_share_the_replies_connection(
    make_settings, serve_app, store
):
    # One set of Bot Connector clients and one HTTP session serve both the replies and the
    # proactive sends of the web app, rather than a second one for the delivery engine.
    connector = FakeConnector()
    await connector.start()
    try:
        base = await serve_app(make_settings(dispatch_interval="0.1"))
        async with aiohttp.ClientSession() as session:
            await Teams(session, base, connector).say("help")  # Ann's personal chat is stored
        reply = connector.sent[-1]
        async with store.unit() as uow:
            ann = await uow.members.identity(Platform.TEAMS, TENANT, ANN["id"])
        # A unit of its own that starts by writing: on SQLite a read transaction that then
        # writes fails at once ("database is locked") if the app's dispatcher wrote meanwhile.
        async with store.unit() as uow:
            now = datetime.now(UTC)
            text = "The Marr forum moves to Room 2"
            await queue(
                uow,
                key="notice:teams",
                kind=Kind.NOTICE,
                to=ToMember(ann.member_id),
                view=View(text, (Paragraph(text),)),
                due_at=now,
                now=now,
            )
        (sent,) = await until(lambda: [s for s in connector.sent if s.text == text])
        assert sent.conversation_id == PERSONAL_ID
        assert sent.peer == reply.peer
    finally:
        await connector.close()


class HeldSlack(FakeSlack):
    """Holds every chat.postMessage until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "chat.postMessage":
            self.arrived.set()
            await self.release.wait()
        return await super()._api(request)


async def test_shutting_down_finishes_the_send_in_flight_and_gives_back_the_rest(
    make_settings, store
):
    slack = HeldSlack()
    await slack.start()
    try:
        settings = make_settings(
            slack_signing_secret=SECRET,
            slack_bot_token=TOKEN,
            slack_api_url=slack.api_url,
            dispatch_interval="0.1",
        )
        now = datetime.now(UTC)
        async with store.unit() as uow:
            channel = await marr_channel(uow, now)
            for n in range(3):  # one channel: the second waits its turn (1 a second)
                await queue(
                    uow,
                    key=f"notice:{n}",
                    kind=Kind.NOTICE,
                    to=ToConversation(channel.id),
                    view=View(f"notice {n}"),
                    due_at=now,
                    now=now,
                )
        server = TestServer(create_app(settings), host="127.0.0.1")
        await server.start_server()
        await asyncio.wait_for(slack.arrived.wait(), timeout=10)
        # What `partnerbot serve` does on SIGTERM (aiohttp's runner cleanup).
        stopping = asyncio.create_task(server.close())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # it waits for the send in flight
        slack.release.set()
        await asyncio.wait_for(stopping, timeout=20)
        assert [c.body["text"] for c in slack.calls_to("chat.postMessage")] == ["notice 0"]
        async with store.unit() as uow:
            assert await uow.outbox.counts() == {Status.SENT: 1, Status.PENDING: 2}
            assert (await uow.outbox.by_key("notice:1")).lease_owner is None
    finally:
        await slack.close()
