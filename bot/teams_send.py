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
from botframework.connector.auth import ConnectorFactory
from msrest.exceptions import ClientRequestError

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
    platform = "teams"

    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    @classmethod
    def from_settings(cls, settings: Settings) -> TeamsSender:
        from bot.teams import create_adapter

        adapter = create_adapter(settings)
        adapter.bot_framework_authentication = _SingleAttemptAuthentication(
            adapter.bot_framework_authentication
        )
        return cls(adapter, settings.teams_app_id)

    async def send(self, destination: Destination, view: View) -> Outcome:
        from bot.teams_cards import render_activity

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


class _SingleAttemptAuthentication:
    """The adapter's authentication, except that its connector clients try each call once.

    msrest's default retry policy (urllib3 ``Retry``: 3 tries, 0.8 s backoff) retries connection
    errors - and, with urllib3 1.x, 5xx - itself, sleeping for real in a worker thread. The
    dispatcher owns retries, pacing and backoff, so it must see every failure at once."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create_connector_factory(self, claims_identity: Any) -> ConnectorFactory:
        return _SingleAttemptConnectors(self._inner.create_connector_factory(claims_identity))


class _SingleAttemptConnectors(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory) -> None:
        self._inner = inner

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        client = await self._inner.create(service_url, audience)
        # The client's HTTP session already holds this urllib3 Retry (msrest mounts it when the
        # client is made), so change it in place rather than replace it.
        retry_policy = client.config.retry_policy
        retry_policy.retries = 0  # msrest's setter: no connect, read or total retries
        retry_policy.policy.status_forcelist = None  # and no retry on any status
        return client


def classify(error: BaseException) -> Outcome:
    if isinstance(error, ErrorResponseException):
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", 0) or 0
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
        if status == 403 or code in STOP_CODES:
            return Unreachable(code or "Forbidden")
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
