"""Real `partnerbot worker` processes against a fake Slack Web API: several dispatchers share the
outbox without sending anything twice, and a dispatcher killed mid-batch loses nothing.

The members are spread over several workspaces the app is installed in (the OAuth mode, each with
its own bot token), as in a deployment big enough for several dispatchers: the dispatchers pace
each workspace at Slack's ceiling (scheduler/pacing.py), so a thousand messages to one workspace
would take minutes of pacing, not of anything these tests are about."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.slack_install import DatabaseInstallationStore, TokenCipher
from dialogs.outbox import Kind, ToMember, queue
from dialogs.views import View
from storage.db import is_sqlite
from storage.models import Identity, Member
from storage.outbox import Status
from storage.repositories import Store
from tests.bot.fake_slack import CLIENT_ID, CLIENT_SECRET, SECRET, FakeSlack

BIN = Path(sys.executable).parent / "partnerbot"
NOW = datetime.now(UTC)
# Enough that pacing (10 a second per workspace) is not what the fan-out tests wait for.
WORKSPACES = 20
TOKEN_KEY = Fernet.generate_key().decode()


@dataclass
class CountingSlack(FakeSlack):
    """Counts the posts it accepted (answered ok). With ``kill_at``, the post with that number
    is never answered: once the worker has recorded every post answered before it (read from
    ``store``), the fake kills the worker instead, and answers nothing after that, so a post is
    "accepted" only if the worker could have recorded it."""

    kill_at: int | None = None
    victim: asyncio.subprocess.Process | None = None
    store: Store | None = None
    accepted: Counter = field(default_factory=Counter)
    received: int = 0
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    dead: asyncio.Event = field(default_factory=asyncio.Event)

    async def _recorded(self, *, within: float = 60.0) -> None:
        """Until the outbox shows every accepted post sent (or ``within`` seconds passed: the
        test's assertion then says what is missing)."""
        assert self.store is not None
        async with asyncio.timeout(within):
            while True:
                async with self.store.unit() as uow:
                    sent = (await uow.outbox.counts()).get(Status.SENT, 0)
                if sent >= sum(self.accepted.values()):
                    return
                await asyncio.sleep(0.05)

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "chat.postMessage":
            return await super()._api(request)
        body = await self._body(request)
        self.received += 1
        if self.killed.is_set() or (self.kill_at is not None and self.received >= self.kill_at):
            if not self.killed.is_set():
                self.killed.set()
                # Let the worker record the posts already answered, then kill it mid-batch.
                try:
                    await self._recorded()
                finally:
                    assert self.victim is not None
                    self.victim.send_signal(signal.SIGKILL)
                    self.dead.set()
            await self.dead.wait()  # the answer reaches no one
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        self.accepted[str(body["text"])] += 1
        return web.json_response({"ok": True, "channel": body["channel"], "ts": "1.0"})


@dataclass
class SlowSlack(FakeSlack):
    """Answers each chat.postMessage after ``delay`` seconds; when the ``stop_at``-th arrives
    it sends SIGTERM to ``victim`` (once) and goes on answering, so the sends in flight can
    finish. Counts the posts it accepted."""

    delay: float = 0.05
    stop_at: int | None = None
    victim: asyncio.subprocess.Process | None = None
    accepted: Counter = field(default_factory=Counter)
    received: int = 0
    received_after_stop: int = 0
    stopped: bool = False

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "chat.postMessage":
            return await super()._api(request)
        body = await self._body(request)
        self.received += 1
        if self.stopped:
            self.received_after_stop += 1
        elif self.stop_at is not None and self.received >= self.stop_at:
            assert self.victim is not None
            self.stopped = True
            self.victim.send_signal(signal.SIGTERM)
        await asyncio.sleep(self.delay)
        self.accepted[str(body["text"])] += 1
        return web.json_response({"ok": True, "channel": body["channel"], "ts": "1.0"})


def worker_env(database_url: str, slack: FakeSlack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERBOT_")}
    env.update(
        {
            "PARTNERBOT_DATABASE_URL": database_url,
            "PARTNERBOT_SLACK_SIGNING_SECRET": SECRET,
            "PARTNERBOT_SLACK_CLIENT_ID": CLIENT_ID,
            "PARTNERBOT_SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "PARTNERBOT_SLACK_TOKEN_KEY": TOKEN_KEY,
            "PARTNERBOT_SLACK_API_URL": slack.api_url,
            "PARTNERBOT_OUTBOX_LEASE_SECONDS": "5",
        }
    )
    return env


async def start_worker(env: dict[str, str], *, drain: bool = True) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(BIN),
        "worker",
        *(["--drain"] if drain else []),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> int:
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 300)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(stderr.decode()[-2000:])
    return process.returncode


async def members_with_dms(store, slack: FakeSlack, count: int, *, workspaces: int) -> list[int]:
    """``count`` Slack members who have talked to the bot (their DM channels are stored), in
    turn in each of ``workspaces`` workspaces the app is installed in (its token saved as the
    OAuth flow saves it)."""
    installations = DatabaseInstallationStore(
        store, client_id=CLIENT_ID, cipher=TokenCipher(TOKEN_KEY)
    )
    teams = [f"T{w}" for w in range(workspaces)]
    for team in teams:
        token = f"xoxb-{team}-secret"
        slack.tokens[token] = team
        await installations.async_save(
            Installation(
                app_id="A1",
                team_id=team,
                bot_token=token,
                bot_id="BBOT",
                bot_user_id="UBOT",
                user_id="U0",
            )
        )
    async with store.unit() as uow:
        members = [Member(display_name=f"m{n}", created_at=NOW) for n in range(count)]
        uow.session.add_all(members)
        await uow.session.flush()
        uow.session.add_all(
            Identity(
                member_id=m.id,
                platform="slack",
                tenant_id=teams[n % workspaces],
                user_id=f"U{n}",
                display_name=m.display_name,
                dm_channel_id=f"D{n}",
                created_at=NOW,
                last_seen_at=NOW,
            )
            for n, m in enumerate(members)
        )
        return [m.id for m in members]


async def announce(store, member_ids: list[int]) -> None:
    async with store.unit() as uow:
        for member_id in member_ids:
            await queue(
                uow,
                key=f"meeting:1:announce:member:{member_id}",
                kind=Kind.MEETING_ANNOUNCEMENT,
                to=ToMember(member_id),
                view=View(f"hello {member_id}"),
                due_at=NOW,
                now=NOW,
            )


async def test_two_worker_processes_on_postgresql_deliver_each_message_once(database_url, store):
    if is_sqlite(database_url):
        pytest.skip("on SQLite one process dispatches; see the kill test")
    slack = CountingSlack()
    await slack.start()
    try:
        member_ids = await members_with_dms(store, slack, 1000, workspaces=WORKSPACES)
        await announce(store, member_ids)
        env = worker_env(database_url, slack)
        workers = [await start_worker(env), await start_worker(env)]
        await asyncio.gather(*(finish(w) for w in workers))
    finally:
        await slack.close()
    assert sum(slack.accepted.values()) == 1000
    assert set(slack.accepted) == {f"hello {m}" for m in member_ids}
    assert max(slack.accepted.values()) == 1  # nothing delivered twice
    async with store.unit() as uow:
        assert await uow.outbox.counts() == {Status.SENT: 1000}


async def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(database_url, store):
    slack = CountingSlack(kill_at=100, store=store)
    await slack.start()
    try:
        member_ids = await members_with_dms(store, slack, 300, workspaces=WORKSPACES)
        await announce(store, member_ids)
        env = worker_env(database_url, slack)
        slack.victim = await start_worker(env)
        assert await finish(slack.victim) == -signal.SIGKILL
        assert slack.killed.is_set()
        delivered_before = sum(slack.accepted.values())
        assert 0 < delivered_before < 300
        async with store.unit() as uow:
            counts = await uow.outbox.counts()
        assert counts[Status.SENT] == delivered_before  # every accepted post was recorded
        slack.kill_at, slack.killed = None, asyncio.Event()
        assert await finish(await start_worker(env)) == 0  # restart: waits out the lease
    finally:
        await slack.close()
    assert set(slack.accepted) == {f"hello {m}" for m in member_ids}
    assert max(slack.accepted.values()) == 1
    async with store.unit() as uow:
        assert await uow.outbox.counts() == {Status.SENT: 300}


async def test_sigterm_finishes_the_sends_in_flight_and_gives_back_the_rest(database_url, store):
    slack = SlowSlack(stop_at=15)
    await slack.start()
    try:
        member_ids = await members_with_dms(store, slack, 60, workspaces=3)
        await announce(store, member_ids)
        env = worker_env(database_url, slack) | {"PARTNERBOT_DISPATCH_INTERVAL": "0.1"}
        slack.victim = await start_worker(env, drain=False)  # the long-running worker
        process = slack.victim
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert slack.stopped and "stopping: finishing the sends in flight" in stderr.decode()
        delivered_before = sum(slack.accepted.values())
        assert 15 <= delivered_before < 60  # stopped mid-batch...
        assert slack.received_after_stop < 60 - 15  # ...and started no new sends
        async with store.unit() as uow:
            counts = await uow.outbox.counts()
        # Every post Slack accepted was recorded, and nothing is left leased.
        assert counts == {Status.SENT: delivered_before, Status.PENDING: 60 - delivered_before}
        # A restart takes the rest at once, rather than waiting for a lease to run out.
        assert await finish(await start_worker(env)) == 0
    finally:
        await slack.close()
    assert set(slack.accepted) == {f"hello {m}" for m in member_ids}
    assert max(slack.accepted.values()) == 1  # nothing sent twice
    async with store.unit() as uow:
        assert await uow.outbox.counts() == {Status.SENT: 60}
