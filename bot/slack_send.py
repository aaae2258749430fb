"""Proactive sending to Slack for the delivery engine: chat.postMessage to a channel or a
member's DM (opened with conversations.open when the bot has none stored yet).

With one workspace the sender has its client (the bot token from the environment); installed
into several through OAuth, it takes each message's token from the installation of the
workspace the target is in (the destination's tenant id is its Slack team id)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_blocks import render_blocks, render_fallback
from bot.slack_files import upload_images
from bot.slack_install import UnreadableToken
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
# The token itself is refused: with OAuth, the workspace may have uninstalled the app since the
# token was read.
TOKEN_REFUSED = {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}
NOT_INSTALLED = "the app is not installed in this Slack workspace"


class BotTokens(Protocol):
    """Each workspace's bot token (bot/slack_install.py WorkspaceTokens)."""

    async def of(self, team_id: str) -> str | None: ...

    def forget(self, team_id: str) -> None: ...


class SlackSender:
    platform = "slack"

    def __init__(self, client: AsyncWebClient, *, tokens: BotTokens | None = None) -> None:
        """``client`` sends every message; with ``tokens`` (the OAuth mode) only its base URL
        is used, each workspace's messages going with that workspace's token."""
        self._client = client
        self._tokens = tokens

    async def close(self) -> None:
        """Nothing to close: slack_sdk's client opens a session per call unless given one."""

    async def send(self, destination: Destination, view: View) -> Outcome:
        if self._tokens is None:
            return await self._send(self._client, destination, view)
        team_id = destination.tenant_id
        for first in (True, False):
            try:
                token = await self._tokens.of(team_id)
            except UnreadableToken as error:  # logged where it was read
                return Rejected(str(error))
            if token is None:
                return Unreachable(NOT_INSTALLED)
            outcome = await self._send(
                AsyncWebClient(token=token, base_url=self._client.base_url), destination, view
            )
            if not (first and _token_refused(outcome)):
                break
            # A token remembered from before an uninstall or a reinstall: read it again, once.
            self._tokens.forget(team_id)
        return outcome

    async def _send(self, client: AsyncWebClient, destination: Destination, view: View) -> Outcome:
        try:
            channel = destination.conversation_id or destination.dm_channel_id
            opened = None
            if channel is None:
                response = await client.conversations_open(users=destination.user_id)
                opened = channel = response["channel"]["id"]
            response = await client.chat_postMessage(
                channel=channel,
                text=render_fallback(view),
                blocks=render_blocks(view),
                unfurl_links=False,
                unfurl_media=False,
            )
            # Block Kit shows images only from a public URL: the charts follow as files. The
            # message is sent whatever happens to them (a failed upload is logged).
            await upload_images(client, view, channel=channel)
            return Sent(message_id=response.get("ts"), dm_channel_id=opened)
        except SlackApiError as error:
            return classify(error.response)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            return Transient(f"connection: {type(error).__name__}")


def _token_refused(outcome: Outcome) -> bool:
    match outcome:
        case Unreachable(reason=code) | Rejected(error=code):
            return any(word in TOKEN_REFUSED for word in code.split())
    return False


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
