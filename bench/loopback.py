"""The platforms' side of the throughput benchmark, on loopback, in its own process.

``python -m bench.loopback`` prints one JSON line, ``{"port": N}``, then serves on 127.0.0.1:N
until stdin closes (the parent exited) or SIGTERM. It answers at once and enforces no limits
(bench/fakes.py is the one that does): here only the bot's own cost is measured.

- Bot Connector: ``POST /teams/v3/conversations/{id}/activities[/{activity id}]`` -> ``{"id"}``.
- Slack Web API: ``POST /slack/api/{method}`` (users.info with a name, conversations.open with
  ``D<user>``, chat.postMessage / chat.postEphemeral / chat.update: ok).
- Slack response_urls: ``POST /respond/{anything}`` -> ``ok``.
- ``GET /stats``: what arrived, per kind, and this process's CPU seconds; ``POST /reset``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections import Counter

from aiohttp import web


class Loopback:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.ids = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/teams/v3/conversations/{cid}/activities", self._teams)
        app.router.add_post("/teams/v3/conversations/{cid}/activities/{aid}", self._teams)
        app.router.add_put("/teams/v3/conversations/{cid}/activities/{aid}", self._teams)
        app.router.add_post("/slack/api/{method}", self._slack)
        app.router.add_get("/slack/api/{method}", self._slack)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset", self._reset)
        return app

    async def _teams(self, request: web.Request) -> web.Response:
        await request.read()
        self.counts["teams"] += 1
        self.ids += 1
        return web.json_response({"id": f"reply-{self.ids}"})

    async def _slack(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            body: dict[str, object] = dict(request.query)
        elif request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        self.counts[f"slack:{method}"] += 1
        if method == "users.info":
            user = str(body.get("user", ""))
            return web.json_response(
                {"ok": True, "user": {"id": user, "profile": {"display_name": f"Member {user}"}}}
            )
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": f"D{body.get('users')}"}})
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "TBENCH"}
            )
        return web.json_response({"ok": True, "channel": body.get("channel"), "ts": "1.000001"})

    async def _respond(self, request: web.Request) -> web.Response:
        await request.read()
        self.counts["respond"] += 1
        self.counts[f"respond:{request.match_info['name']}"] += 1
        return web.Response(text="ok")

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"counts": self.counts, "cpu_seconds": time.process_time()})

    async def _reset(self, _request: web.Request) -> web.Response:
        self.counts.clear()
        return web.json_response({"ok": True})


async def serve() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    runner = web.AppRunner(Loopback().app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, listener, backlog=4096).start()
    sys.stdout.write(json.dumps({"port": listener.getsockname()[1]}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
