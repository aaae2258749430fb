"""Proactive sending to Teams for the delivery engine: ``continue_conversation`` on a stored
ConversationReference, or a new 1:1 chat (``create_conversation``) for a member the bot knows
but has never chatted with."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import requests
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
    ErrorResponseException,
)
from msrest.exceptions import ClientRequestError

from bot.teams import SharedSession, create_adapter
from bot.teams_cards import render_activity
from config.settings import Settings
from dialogs.views import View
from scheduler.delivery import (
    Destination,
    Outcome,
    RateLimited,
    Rejected,
    Sent,
    Transient,
    Unreachable,
)

logger = logging.getLogger(__name__)

# 403s that mean "stop sending to this conversation" (DESIGN.md, Platform facts).
STOP_CODES = {"MessageWritesBlocked", "ConversationBlockedByUser", "BotNotInConversationRoster"}


class TeamsSender:
    """Sends through a CloudAdapter made by ``bot.teams.create_adapter`` with a SharedSession:
    its Bot Connector clients are made once per service URL and reused (fixes A and B of
    ../shared/PERFORMANCE.md), and every call goes through one aiohttp session (fix C) whose
    pipeline has no retry policy - each call is tried once, because the dispatcher owns
    retries, pacing and backoff and must see every failure at once."""

    platform = "teams"

    def __init__(
        self, adapter: CloudAdapter, app_id: str, *, session: SharedSession | None = None
    ) -> None:
        """``session``: one this sender owns and closes; none when the adapter is shared."""
        if getattr(adapter.bot_framework_authentication, "sender", None) is None:
            # msrest's default pipeline (requests in threads) retries by itself, sleeping.
            raise ValueError("TeamsSender needs an adapter from create_adapter(sender=...)")
        self._adapter = adapter
        self._app_id = app_id
        self._session = session

    @classmethod
    def from_settings(
        cls, settings: Settings, *, adapter: CloudAdapter | None = None
    ) -> TeamsSender:
        """With ``adapter`` (the web app's, from setup_teams), proactive sends share its clients
        and its session with the replies; otherwise (``partnerbot worker``) an adapter of its
        own, whose session ``close`` closes."""
        if adapter is not None:
            return cls(adapter, settings.teams_app_id)
        session = SharedSession()
        return cls(create_adapter(settings, sender=session), settings.teams_app_id, session=session)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, destination: Destination, view: View) -> Outcome:
        activity = render_activity(view)
        result: dict[str, Any] = {}

        async def deliver(turn_context: TurnContext) -> None:
            # Errors are caught here, inside the turn, so the adapter's error handler (which
            # would apologise to the user) never runs for a proactive send.
            try:
                response = await turn_context.send_activity(activity)
                result["id"] = getattr(response, "id", None)
                result["reference"] = TurnContext.get_conversation_reference(
                    turn_context.activity
                ).serialize()
            except Exception as error:  # classified below
                result["error"] = error

        try:
            if destination.reference:
                reference = ConversationReference().deserialize(destination.reference)
                await self._adapter.continue_conversation(reference, deliver, self._app_id)
                created = False
            elif destination.user_id and destination.via_reference:
                await self._create_personal_chat(destination, deliver)
                created = True
            else:
                return Unreachable("no conversation reference for this member yet")
        except Exception as error:
            result["error"] = error
        if "error" in result:
            return classify(result["error"])
        return Sent(
            message_id=result.get("id"), reference=result.get("reference") if created else None
        )

    async def _create_personal_chat(self, destination: Destination, deliver: Any) -> None:
        via = ConversationReference().deserialize(destination.via_reference)
        parameters = ConversationParameters(
            is_group=False,
            bot=via.bot,
            members=[ChannelAccount(id=destination.user_id)],
            tenant_id=destination.tenant_id,
            channel_data={"tenant": {"id": destination.tenant_id}},
        )
        await self._adapter.create_conversation(
            self._app_id,
            deliver,
            parameters,
            channel_id="msteams",
            service_url=via.service_url,
        )


def classify(error: BaseException) -> Outcome:
    if isinstance(error, ErrorResponseException):
        response = getattr(error, "response", None)
        # msrest keeps the transport's own response: aiohttp's ``status`` through the shared
        # session, requests' ``status_code`` through msrest's default sender.
        status = getattr(response, "status_code", None) or getattr(response, "status", 0) or 0
        code = ""
        details = getattr(getattr(error, "error", None), "error", None)
        if details is not None:
            code = getattr(details, "code", "") or ""
        if status == 429:
            headers = getattr(response, "headers", {}) or {}
            try:
                retry_after = float(headers.get("Retry-After", 1))
            except (TypeError, ValueError):
                retry_after = 1.0
            return RateLimited(retry_after=retry_after, error="429")
        if code in STOP_CODES:
            return Unreachable(code)
        if status == 403:
            # Any other 403 (e.g. the app lacks a permission) is about this message, not a
            # sign that the member or channel stopped taking messages: fail it visibly.
            return Rejected(f"403 {code}".strip())
        if status == 404:
            return Unreachable(code or "ConversationNotFound")
        if status == 412 or status >= 500:
            return Transient(f"{status} {code}".strip())
        return Rejected(f"{status} {code}".strip())
    # msrest wraps the requests exception of a failed connection in ClientRequestError.
    connection_errors = (
        aiohttp.ClientError
        | requests.RequestException
        | ClientRequestError
        | OSError
        | TimeoutError
    )
    if isinstance(error, connection_errors):
        return Transient(f"connection: {type(error).__name__}")
    logger.error("unexpected error sending to Teams: %s", type(error).__name__)
    return Transient(type(error).__name__)
