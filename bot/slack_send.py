"""Proactive sending to Slack for the delivery engine: chat.postMessage to a channel or a
member's DM (opened with conversations.open when the bot has none stored yet)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_blocks import render_blocks, render_fallback
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

# Slack's answers that mean "this target will not take messages": stop sending there.
UNREACHABLE = {
    "channel_not_found",
    "not_in_channel",
    "account_inactive",
    "is_archived",
    "user_not_found",
    "cannot_dm_bot",
    "user_disabled",
    "restricted_action",
}
# Worth another try later.
TRANSIENT = {
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
}


class SlackSender:
    platform = "slack"

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, destination: Destination, view: View) -> Outcome:
        try:
            channel = destination.conversation_id or destination.dm_channel_id
            opened = None
            if channel is None:
                response = await self._client.conversations_open(users=destination.user_id)
                opened = channel = response["channel"]["id"]
            response = await self._client.chat_postMessage(
                channel=channel,
                text=render_fallback(view),
                blocks=render_blocks(view),
                unfurl_links=False,
                unfurl_media=False,
            )
            return Sent(message_id=response.get("ts"), dm_channel_id=opened)
        except SlackApiError as error:
            return classify(error.response)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            return Transient(f"connection: {type(error).__name__}")


def classify(response: Any) -> Outcome:
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    headers = getattr(response, "headers", None) or {}
    code = ""
    if hasattr(response, "get"):
        try:
            code = response.get("error") or ""
        except (TypeError, KeyError):  # a non-JSON body
            code = ""
    if status == 429 or code == "ratelimited":
        return RateLimited(retry_after=_retry_after(headers), error=f"{status} {code}".strip())
    if code in UNREACHABLE:
        return Unreachable(code)
    if code in TRANSIENT or status >= 500 or status == 412:
        return Transient(f"{status} {code}".strip())
    return Rejected(f"{status} {code or 'unknown error'}".strip())


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", 1)))
    except (TypeError, ValueError):
        return 1.0
