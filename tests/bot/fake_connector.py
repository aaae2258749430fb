"""A fake Bot Connector served on loopback: records what the bot sends, as Teams would get it.

The bot reaches it through the ``serviceUrl`` of the activities a test posts, as the SDK does with
the real connector (``https://smba.trafficmanager.net/...``).

For the delivery engine it can also answer as Teams does when things go wrong: a per-conversation
``script`` of failures to answer first, and Teams' per-conversation rate limits checked on an
injected clock (a 429 with ``Retry-After`` when a send would exceed them).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True, slots=True)
class Sent:
    """One activity the bot posted: where to, in reply to what, and the JSON body."""

    conversation_id: str
    reply_to_id: str | None
    activity: dict[str, Any]
    authorization: str | None
    at: float = 0.0  # when it was accepted, on the injected clock (0 without one)
    peer: tuple[str, int] | None = None  # the bot's end of the TCP connection it came on

    @property
    def text(self) -> str:
        return self.activity.get("text") or ""

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.activity.get("attachments") or ():
            if attachment.get("contentType") == ADAPTIVE_CARD:
                return attachment["content"]
        return None

    @property
    def card_texts(self) -> list[str]:
        card = self.card or {}
        return [element["text"] for element in card.get("body", ()) if "text" in element]

    @property
    def buttons(self) -> list[tuple[str, dict[str, Any]]]:
        """(title, data) of every card action."""
        card = self.card or {}
        return [
            (action["title"], action.get("data", {}))
            for element in card.get("body", ())
            if element.get("type") == "ActionSet"
            for action in element["actions"]
        ]


@dataclass(frozen=True, slots=True)
class Failure:
    """One scripted answer: an HTTP status with the Bot Connector's error code and headers."""

    status: int
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refused:
    """An activity the fake answered with an error instead of accepting it."""

    at: float
    conversation_id: str
    status: int
    code: str


class FakeConnector:
    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        limits: tuple[tuple[int, float], ...] = (),
    ) -> None:
        """``clock`` stamps receipts (e.g. a virtual clock's ``monotonic``); ``limits`` are
        (count, seconds) windows per conversation, e.g. Teams' ((7, 1.0), (8, 2.0))."""
        self.sent: list[Sent] = []
        self.updated: list[Sent] = []  # activities replaced in place, by activity id
        self.created: list[dict[str, Any]] = []
        self.refused: list[Refused] = []
        # Answered, in order, before anything to that conversation is accepted.
        self.script: dict[str, list[Failure]] = {}
        self._clock = clock
        self._limits = limits
        self._accepted_at: dict[str, list[float]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._server: TestServer | None = None
        self.url = ""
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        app.router.add_put(
            "/v3/conversations/{conversation_id}/activities/{activity_id}", self._update
        )
        app.router.add_post(
            "/v3/conversations/{conversation_id}/activities/{activity_id}", self._send
        )
        self._app = app

    async def start(self) -> str:
        self._server = TestServer(self._app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("/"))
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _send(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        activity = await request.json()
        now = self._clock() if self._clock else 0.0
        planned = self.script.get(conversation_id)
        if planned:
            return self._refuse(now, conversation_id, planned.pop(0))
        if self._over_limit(conversation_id, now):
            return self._refuse(
                now, conversation_id, Failure(429, "TooManyRequests", {"Retry-After": "1"})
            )
        self._accepted_at[conversation_id].append(now)
        self.sent.append(
            Sent(
                conversation_id=conversation_id,
                reply_to_id=request.match_info.get("activity_id"),
                activity=activity,
                authorization=request.headers.get("Authorization"),
                at=now,
                peer=request.transport.get_extra_info("peername") if request.transport else None,
            )
        )
        return web.json_response({"id": f"bot-activity-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        """updateActivity: the bot replacing one of its messages (a card with new counts)."""
        self.updated.append(
            Sent(
                conversation_id=request.match_info["conversation_id"],
                reply_to_id=request.match_info["activity_id"],
                activity=await request.json(),
                authorization=request.headers.get("Authorization"),
            )
        )
        return web.json_response({"id": request.match_info["activity_id"]})

    def _over_limit(self, conversation_id: str, now: float) -> bool:
        accepted = self._accepted_at[conversation_id]
        return any(
            sum(1 for at in accepted if at > now - seconds) >= count
            for count, seconds in self._limits
        )

    def _refuse(self, now: float, conversation_id: str, failure: Failure) -> web.Response:
        self.refused.append(Refused(now, conversation_id, failure.status, failure.code))
        body = {"error": {"code": failure.code or "ServiceError", "message": "scripted"}}
        return web.json_response(body, status=failure.status, headers=failure.headers)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        self.created.append(await request.json())
        number = next(self._ids)
        return web.json_response({"id": f"a:created-{number}", "activityId": f"act-{number}"})

    # -- what a test asks ------------------------------------------------------------------

    def texts(self) -> list[str]:
        return [sent.text for sent in self.sent if sent.text]

    def cards(self) -> list[Sent]:
        return [sent for sent in self.sent if sent.card is not None]

    def attempts(self, conversation_id: str) -> int:
        """Every activity POSTed to a conversation, accepted or refused."""
        return sum(1 for sent in self.sent if sent.conversation_id == conversation_id) + sum(
            1 for refused in self.refused if refused.conversation_id == conversation_id
        )
