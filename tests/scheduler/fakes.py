"""A virtual clock, and a fake Slack Web API that enforces Slack's per-channel limit in it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.slack_send import SlackSender
from scheduler.dispatcher import Dispatcher, DispatchReport
from storage.models import OutboxMessage
from storage.outbox import Status
from storage.repositories import Store
from tests.bot.fake_slack import TOKEN, FakeSlack


class VirtualClock:
    """Time that moves only when someone sleeps: tests never wait for real."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._now.timestamp()

    async def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def advance_to(self, moment: datetime) -> datetime:
        self._now = max(self._now, moment)
        return self._now


class FrozenClock(VirtualClock):
    """Time that moves only between ticks, when the test says: a dispatcher that would wait
    in-process (rather than give a row back until its target is ready) fails the test."""

    async def sleep(self, seconds: float) -> None:
        raise AssertionError(f"the dispatcher waited {seconds} s while holding its batch")


async def run_paced(dispatcher: Dispatcher, clock: VirtualClock, store: Store) -> DispatchReport:
    """Run the dispatcher, and again whenever a row it gave back (until its target is ready,
    or after a 429) falls due, the clock moved on to then; what the runs did, summed."""
    total = DispatchReport()
    while True:
        report = await dispatcher.run_once(clock.now())
        for name in (
            "claimed",
            "sent",
            "retried",
            "failed",
            "skipped",
            "rate_limited",
            "unreachable",
            "deferred",
        ):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.errors += report.errors
        async with store.unit() as uow:
            again = await uow.session.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.status == Status.PENDING
                )
            )
        if again is None:
            return total
        clock.advance_to(again)


@dataclass
class LimitedSlack(FakeSlack):
    """chat.postMessage at most once per second per channel (429 + Retry-After otherwise);
    ``gone`` channels answer channel_not_found, ``errors`` channels the Slack error code given;
    ``script`` gives per-channel HTTP statuses to answer first (e.g. [500, 500])."""

    clock: VirtualClock | None = None
    gone: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    accepted: list[tuple[float, str, str]] = field(default_factory=list)
    refusals: list[tuple[float, str, int]] = field(default_factory=list)
    _last: dict[str, float] = field(default_factory=dict)

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "chat.postMessage":
            return await super()._api(request)
        body = await self._body(request)
        channel = str(body.get("channel"))
        now = self.clock.monotonic() if self.clock else 0.0
        if channel in self.gone:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if channel in self.errors:
            self.refusals.append((now, channel, 200))
            return web.json_response({"ok": False, "error": self.errors[channel]})
        planned = self.script.get(channel)
        if planned:
            status, headers = planned.pop(0)
            self.refusals.append((now, channel, status))
            return web.json_response({"ok": False, "error": "x"}, status=status, headers=headers)
        if now - self._last.get(channel, float("-inf")) < 1.0:
            self.refusals.append((now, channel, 429))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        self._last[channel] = now
        self.accepted.append((now, channel, str(body.get("text", ""))))
        return web.json_response({"ok": True, "channel": channel, "ts": f"{now:.6f}"})


def slack_sender(fake: FakeSlack) -> SlackSender:
    return SlackSender(AsyncWebClient(token=TOKEN, base_url=fake.api_url))
