"""A fake Slack on loopback: the Web API the bot calls, response_urls, and a signed sender.

The pattern of bolt-python's own tests (``tests/mock_web_api_server/``): a real HTTP server that
records every call (method, body, Authorization header) and answers as Slack would, so the tests
assert on what the bot sent, not on how it sent it.

It also plays Slack's side of installing the app through OAuth: the authorize page (the admin
picks a workspace and allows; Slack sends the browser back to the app's redirect URL with a
code) and ``oauth.v2.access``, which turns that code into the workspace's own bot token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"
SECRET = "signing-secret"
TOKEN = "xoxb-test"
# The app's OAuth credentials (Basic Information > App Credentials).
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-shh"
APP_ID = "A1"


@dataclass(frozen=True)
class Call:
    """One request the bot made: a Web API method (``chat.postMessage``) or a response_url
    (``response/<id>``)."""

    method: str
    body: dict[str, Any]
    authorization: str | None

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.body.get("blocks") or []

    def texts(self) -> list[str]:
        """Every text the member would read in the blocks, in order."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("text"), str):
                    found.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return found

    def buttons(self) -> list[tuple[str, str]]:
        """(label, value) of every button."""
        return [
            (element["text"]["text"], element["value"])
            for block in self.blocks
            if block["type"] == "actions"
            for element in block["elements"]
            if element["type"] == "button"
        ]


@dataclass
class FakeSlack:
    """Start with ``await fake.start()``; ``api_url`` is the bot's PARTNERBOT_SLACK_API_URL."""

    users: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # method -> HTTP statuses to answer with first (e.g. [429] for one rate-limit refusal)
    failures: dict[str, list[int]] = field(default_factory=dict)
    # method -> HTTP statuses to answer with first in plain text, not Slack's JSON
    pages: dict[str, list[int]] = field(default_factory=dict)
    # Every bot token Slack has issued and not revoked, and the workspace it is for.
    tokens: dict[str, str] = field(default_factory=lambda: {TOKEN: TEAM_ID})
    # Installing through OAuth: the app's redirect URL as configured at Slack, and the workspace
    # the admin picks on the authorize page.
    redirect_url: str = ""
    installing: str = TEAM_ID
    revoked: set[str] = field(default_factory=set)
    _codes: dict[str, str] = field(default_factory=dict)
    # While set to an unset Event, response_urls hold each request until it is set; how many
    # are held at once, now and at most, is counted.
    response_gate: asyncio.Event | None = None
    responding: int = 0
    most_responding: int = 0
    _server: TestServer | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _files: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/oauth/v2/authorize"

    def token_of(self, team_id: str) -> str:
        """The bot token Slack issued to ``team_id`` (the latest, when installed again)."""
        return [token for token, team in self.tokens.items() if team == team_id][-1]

    def revoke(self, team_id: str) -> None:
        """What Slack does when a workspace uninstalls the app: its tokens stop working."""
        for token, team in list(self.tokens.items()):
            if team == team_id:
                del self.tokens[token]
                self.revoked.add(token)

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/response/{name}"

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, *, count: int = 1, within: float = 5.0) -> list[Call]:
        """The calls to ``method`` once there are ``count`` of them (the bot replies after its
        ack, so they arrive after the HTTP response); fails after ``within`` seconds."""
        try:
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            seen = [call.method for call in self.calls]
            raise AssertionError(f"expected {count} call(s) to {method}; saw {seen}") from None
        return self.calls_to(method)

    async def _record(self, call: Call) -> None:
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body.update(await request.json())
        elif request.can_read_body:
            body.update(await request.post())
        return body

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await self._body(request)
        await self._record(Call(method, body, request.headers.get("Authorization")))
        page = self.pages.get(method)
        if page:
            return web.Response(status=page.pop(0), text="Bad Request", content_type="text/plain")
        pending = self.failures.get(method)
        if pending:
            status = pending.pop(0)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=status, headers={"Retry-After": "0"}
            )
        if method == "oauth.v2.access":
            return web.json_response(self._oauth_access(request, body))
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token in self.revoked:
            return web.json_response({"ok": False, "error": "token_revoked"})
        if token not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response(self._answer(method, body, team_id=self.tokens[token]))

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's authorize page, as the admin leaves it: workspace picked, Allow clicked."""
        await self._record(Call("oauth/v2/authorize", dict(request.query), None))
        if request.query.get("client_id") != CLIENT_ID:
            return web.Response(status=400, text="Invalid client_id parameter")
        code = f"code-{self.installing}-{len(self._codes) + 1}"
        self._codes[code] = self.installing
        back = request.query.get("redirect_uri") or self.redirect_url
        query = urlencode({"code": code, "state": request.query.get("state", "")})
        raise web.HTTPFound(f"{back}?{query}")

    def _oauth_access(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """The code for the workspace's bot token, once, for the app's client id and secret
        (sent as HTTP Basic auth, as slack_sdk does)."""
        if request.headers.get("Authorization") != basic_auth(CLIENT_ID, CLIENT_SECRET):
            return {"ok": False, "error": "bad_client_secret"}
        team_id = self._codes.pop(str(body.get("code", "")), None)
        if team_id is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{team_id}-{len(self.tokens) + len(self.revoked) + 1}-secret"
        self.tokens[token] = team_id
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write,im:write,users:read",
            "bot_user_id": BOT_USER_ID,
            "app_id": APP_ID,
            "team": {"name": f"Workspace {team_id}", "id": team_id},
            "enterprise": None,
            "authed_user": {"id": "U1"},
            "is_enterprise_install": False,
        }

    def _answer(self, method: str, body: dict[str, Any], *, team_id: str) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://partners.slack.com/",
                    "team": "Partners",
                    "user": "partnerbot",
                    "team_id": team_id,
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                    "is_enterprise_install": False,
                }
            case "chat.postMessage":
                return {"ok": True, "channel": body.get("channel"), "ts": ts}
            case "chat.update":
                return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
            case "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            case "files.getUploadURLExternal":
                # Slack answers with a one-off URL on files.slack.com; here, on this server.
                file_id = f"F{next(self._files):04d}"
                return {
                    "ok": True,
                    "upload_url": f"{self.base_url}/upload/{file_id}",
                    "file_id": file_id,
                }
            case "files.completeUploadExternal":
                files = json.loads(body.get("files") or "[]")
                return {
                    "ok": True,
                    "files": [{"id": f["id"], "title": f.get("title", "")} for f in files],
                }
            case "views.open":
                view = body.get("view")
                view = json.loads(view) if isinstance(view, str) else view
                return {"ok": True, "view": {**(view or {}), "id": "V1", "hash": "h1"}}
            case "conversations.open":
                return {"ok": True, "channel": {"id": "D" + str(body.get("users", ""))}}
            case "users.info":
                user_id = str(body.get("user", ""))
                name = self.users.get(user_id, "")
                return {
                    "ok": True,
                    "user": {
                        "id": user_id,
                        "team_id": team_id,
                        "name": user_id.lower(),
                        "real_name": name,
                        "profile": {"display_name": name, "real_name": name},
                    },
                }
        return {"ok": False, "error": "unknown_method"}

    async def _response_url(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        if self.response_gate is not None:
            self.responding += 1
            self.most_responding = max(self.most_responding, self.responding)
            try:
                await self.response_gate.wait()
            finally:
                self.responding -= 1
        await self._record(Call(f"response/{name}", body, request.headers.get("Authorization")))
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload step of files_upload_v2: the raw file bytes, no token (the URL is one)."""
        file_id = request.match_info["file_id"]
        await self._record(
            Call(
                f"upload/{file_id}",
                {"content": await request.read()},
                request.headers.get("Authorization"),
            )
        )
        return web.Response(text=f"OK - {request.content_length}")


def basic_auth(login: str, password: str) -> str:
    """An HTTP Basic Authorization header."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


def signed_headers(
    body: str, *, secret: str = SECRET, timestamp: int | None = None, content_type: str
) -> dict[str, str]:
    """The headers Slack sends: ``v0=`` + hex HMAC-SHA256(secret, ``v0:{ts}:{body}``)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


class SlackSender:
    """Sends requests to the bot the way Slack does: signed, to one request URL."""

    def __init__(self, url: str, *, secret: str = SECRET) -> None:
        self.url = url
        self.secret = secret

    async def post(
        self,
        body: str,
        *,
        content_type: str,
        timestamp: int | None = None,
        secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        headers = signed_headers(
            body,
            secret=self.secret if secret is None else secret,
            timestamp=timestamp,
            content_type=content_type,
        )
        headers.update(extra_headers or {})
        async with (
            aiohttp.ClientSession() as session,
            # As a stream: aiohttp warns (an error in the suite) of a large body sent as bytes,
            # and the hostile tests' payloads can be megabytes.
            session.post(self.url, data=io.BytesIO(body.encode()), headers=headers) as response,
        ):
            return response.status, await response.text()

    async def command(self, fields: dict[str, str], **options: Any) -> tuple[int, str]:
        return await self.post(
            urlencode(fields), content_type="application/x-www-form-urlencoded", **options
        )

    async def event(self, envelope: dict[str, Any], **options: Any) -> tuple[int, str]:
        return await self.post(json.dumps(envelope), content_type="application/json", **options)

    async def interaction(self, payload: dict[str, Any], **options: Any) -> tuple[int, str]:
        return await self.post(
            urlencode({"payload": json.dumps(payload)}),
            content_type="application/x-www-form-urlencoded",
            **options,
        )
