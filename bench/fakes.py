"""Fake Slack Web API and Bot Connector that enforce the platforms' documented rate limits.

Run as its own process (``python -m bench.fakes``) so that its CPU time stays out of the
measurement of the process under test. It prints one JSON line, ``{"port": N}``, then serves on
127.0.0.1:N until stdin closes (the parent exited) or it gets SIGTERM.

What it enforces, counted at arrival on this process's monotonic clock (sliding windows; a
request over any limit is answered 429 with ``Retry-After`` in whole seconds, rounded up, and does
not count against the limits):

- Slack ``chat.postMessage``: 1 per second per channel (the method's documentation), and an
  assumed workspace-wide ceiling (``--slack-workspace-rate`` per second; Slack documents one,
  "several hundred messages per minute", but publishes no exact figure).
- Teams (Bot Connector ``POST /v3/conversations/{id}/activities``): 7 per 1 s, 8 per 2 s,
  60 per 30 s and 1,800 per hour per conversation; 50 per second per app per tenant.

``GET /stats`` reports what was accepted and refused (and this process's CPU time);
``POST /reset`` with ``{"enforce": false}`` clears the counters and turns the limits off (for a
baseline that measures only the client's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SLACK_PER_CHANNEL = ((1, 1.0),)
TEAMS_PER_CONVERSATION = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
TEAMS_PER_APP = ((50, 1.0),)


class SlidingWindows:
    """Accepted-request times per key, checked against (count, seconds) windows."""

    def __init__(self, windows: tuple[tuple[int, float], ...]) -> None:
        self.windows = windows
        self._horizon = max(seconds for _, seconds in windows)
        self._times: dict[str, deque[float]] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until one more request to ``key`` fits every window (0: it fits now)."""
        times = self._times.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self._horizon:
            times.popleft()
        wait = 0.0
        for count, seconds in self.windows:
            if len(times) >= count:
                # The count-th most recent acceptance must leave the window first.
                oldest = times[-count]
                if oldest > now - seconds:
                    wait = max(wait, oldest + seconds - now)
        return wait

    def record(self, key: str, now: float) -> None:
        self._times.setdefault(key, deque()).append(now)


@dataclass
class PlatformStats:
    accepted: int = 0
    refused: int = 0  # 429s
    other: int = 0  # requests that were neither (unknown methods, conversations.open...)
    first_at: float | None = None
    last_at: float | None = None
    refused_by: dict[str, int] = field(default_factory=dict)

    def accept(self, now: float) -> None:
        self.accepted += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def refuse(self, reason: str) -> None:
        self.refused += 1
        self.refused_by[reason] = self.refused_by.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "refused": self.refused,
            "other": self.other,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "refused_by": self.refused_by,
        }


class FakePlatforms:
    def __init__(self, *, slack_workspace_rate: int) -> None:
        self.slack_workspace_rate = slack_workspace_rate
        self._ids = itertools.count(1)
        self.reset(enforce=True)

    def reset(self, *, enforce: bool) -> None:
        self.enforce = enforce
        self.slack = PlatformStats()
        self.teams = PlatformStats()
        self._slack_channels = SlidingWindows(SLACK_PER_CHANNEL)
        self._slack_workspace = SlidingWindows(((self.slack_workspace_rate, 1.0),))
        self._teams_conversations = SlidingWindows(TEAMS_PER_CONVERSATION)
        self._teams_apps = SlidingWindows(TEAMS_PER_APP)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/slack/api/{method}", self._slack)
        app.router.add_post("/teams/v3/conversations/{conversation_id}/activities", self._teams)
        app.router.add_post(
            "/teams/v3/conversations/{conversation_id}/activities/{activity_id}", self._teams
        )
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset", self._reset)
        return app

    @staticmethod
    def _too_many(wait: float, body: dict[str, Any]) -> web.Response:
        return web.json_response(
            body, status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))}
        )

    async def _slack(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        if method == "conversations.open":
            self.slack.other += 1
            return web.json_response({"ok": True, "channel": {"id": f"D{body.get('users')}"}})
        if method != "chat.postMessage":
            self.slack.other += 1
            return web.json_response({"ok": False, "error": "unknown_method"})
        channel = str(body.get("channel", ""))
        workspace = request.headers.get("Authorization", "")
        now = time.monotonic()
        if self.enforce:
            for reason, limiter, key in (
                ("channel", self._slack_channels, channel),
                ("workspace", self._slack_workspace, workspace),
            ):
                wait = limiter.wait(key, now)
                if wait > 0:
                    self.slack.refuse(reason)
                    return self._too_many(wait, {"ok": False, "error": "ratelimited"})
            self._slack_channels.record(channel, now)
            self._slack_workspace.record(workspace, now)
        self.slack.accept(now)
        return web.json_response({"ok": True, "channel": channel, "ts": f"{now:.6f}"})

    async def _teams(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        activity = await request.json()
        conversation = activity.get("conversation") or {}
        tenant = conversation.get("tenantId") or "default"
        now = time.monotonic()
        if self.enforce:
            for reason, limiter, key in (
                ("conversation", self._teams_conversations, conversation_id),
                ("app", self._teams_apps, tenant),
            ):
                wait = limiter.wait(key, now)
                if wait > 0:
                    self.teams.refuse(reason)
                    error = {"code": "TooManyRequests", "message": f"{reason} limit"}
                    return self._too_many(wait, {"error": error})
            self._teams_conversations.record(conversation_id, now)
            self._teams_apps.record(tenant, now)
        self.teams.accept(now)
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _stats(self, _request: web.Request) -> web.Response:
        usage = time.process_time()
        return web.json_response(
            {
                "slack": self.slack.as_dict(),
                "teams": self.teams.as_dict(),
                "enforce": self.enforce,
                "slack_workspace_rate": self.slack_workspace_rate,
                "cpu_seconds": usage,
            }
        )

    async def _reset(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        self.reset(enforce=bool(body.get("enforce", True)))
        return web.json_response({"ok": True})


async def serve(slack_workspace_rate: int) -> None:
    fakes = FakePlatforms(slack_workspace_rate=slack_workspace_rate)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    runner = web.AppRunner(fakes.app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, listener, backlog=1024).start()
    sys.stdout.write(json.dumps({"port": listener.getsockname()[1]}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # The parent holds our stdin: when it goes away, so do we.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack-workspace-rate", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(serve(args.slack_workspace_rate))


if __name__ == "__main__":
    main()
