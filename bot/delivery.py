"""Putting the delivery engine together: the platform senders, the dispatcher, its schedule."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from config.settings import Settings
from scheduler.clock import Clock, SystemClock
from scheduler.delivery import Sender
from scheduler.dispatcher import Dispatcher, DispatchPolicy
from scheduler.metrics import DeliveryMetrics
from scheduler.runner import DeliveryService
from storage.db import is_sqlite
from storage.repositories import Store

if TYPE_CHECKING:
    from botbuilder.integration.aiohttp import CloudAdapter


def owner_id() -> str:
    """Who holds a lease: host, process, and a nonce (pids repeat across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_senders(
    settings: Settings, store: Store, *, teams_adapter: CloudAdapter | None = None
) -> dict[str, Sender]:
    """``teams_adapter``: the web app's, so that proactive sends and replies share one set of
    Bot Connector clients and one HTTP session; a worker makes its own."""
    senders: dict[str, Sender] = {}
    if settings.slack_bot_token or settings.slack_oauth:
        from slack_sdk.web.async_client import AsyncWebClient

        from bot.slack_send import SlackSender

        client = AsyncWebClient(
            token=settings.slack_bot_token or None, base_url=settings.slack_api_url
        )
        tokens = None
        if settings.slack_oauth:
            # Installed in several workspaces: each one's token, from its installation.
            from bot.slack_install import WorkspaceTokens, installation_store

            tokens = WorkspaceTokens(installation_store(settings, store))
        senders["slack"] = SlackSender(client, tokens=tokens)
    if settings.teams_enabled:
        from bot.teams_send import TeamsSender

        senders["teams"] = TeamsSender.from_settings(settings, adapter=teams_adapter)
    return senders


def build_delivery(
    settings: Settings,
    store: Store,
    *,
    clock: Clock | None = None,
    jobs: Callable[[datetime], Awaitable[None]] | None = None,
    metrics: DeliveryMetrics | None = None,
    teams_adapter: CloudAdapter | None = None,
) -> DeliveryService:
    clock = clock or SystemClock()
    dispatcher = Dispatcher(
        store,
        build_senders(settings, store, teams_adapter=teams_adapter),
        clock=clock,
        owner=owner_id(),
        single_process=is_sqlite(settings.database_url),
        policy=DispatchPolicy(lease=timedelta(seconds=settings.outbox_lease_seconds)),
    )
    return DeliveryService(
        dispatcher, clock, interval=settings.dispatch_interval, jobs=jobs, metrics=metrics
    )
