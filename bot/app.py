"""create_app(settings): the one place where the parts are put together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web

from bot.delivery import build_delivery
from bot.logs import install_record_factory, with_request_id
from bot.ops import METRICS, Metrics, setup_operations
from config.frameworks import load_frameworks
from config.settings import Environment, Settings
from dialogs.core import Partnerbot, utcnow
from dialogs.turn import Partnership
from scheduler.runner import DeliveryService
from storage.db import create_engine
from storage.repositories import Store

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
DELIVERY = web.AppKey("delivery", DeliveryService)
STORE = web.AppKey("store", Store)
CORE = web.AppKey("core", Partnerbot)

MAX_BODY = 1024 * 1024


def partnership_of(settings: Settings) -> Partnership:
    extra = [Path(settings.frameworks_dir)] if settings.frameworks_dir else []
    return Partnership(
        frameworks=load_frameworks(*extra),
        public_url=settings.base_url,
        timezone=settings.timezone,
        admins=frozenset(settings.admins),
        retention_months=settings.retention_months,
        privacy_contact=settings.privacy_contact,
        min_respondents=settings.min_respondents,
        first_contact_becomes_coordinator=(
            settings.env is Environment.DEVELOPMENT and not settings.admins
        ),
    )


def create_core(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Partnerbot:
    store = Store(create_engine(settings.database_url))
    return Partnerbot(store, partnership_of(settings), clock=clock)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    install_record_factory()
    app = web.Application(client_max_size=MAX_BODY, middlewares=[with_request_id])
    core = create_core(settings, clock=clock)
    app[SETTINGS] = settings
    app[CORE] = core
    app[STORE] = core.store
    app.router.add_get("/healthz", healthz)
    app[METRICS] = Metrics()
    setup_operations(app, core.store, clock=clock, metrics=app[METRICS])
    app.router.add_get("/exports/{token}", download)

    # Imported here so a deployment with one platform never loads the other's SDK.
    if settings.teams_enabled:
        from bot.teams import setup_teams

        setup_teams(app, settings, core)
    if settings.slack_enabled:
        from bot.slack import setup_slack

        setup_slack(app, settings, core)

    if settings.dispatcher_in_web:
        app.cleanup_ctx.append(_delivery)
        app.on_shutdown.append(_stop_claiming)
    app.on_cleanup.append(_close_store)
    return app


async def _delivery(app: web.Application) -> AsyncIterator[None]:
    """The dispatcher runs beside the web server unless workers do it (APScheduler must start
    inside the running loop, hence the startup hook)."""
    teams_adapter = None
    if app[SETTINGS].teams_enabled:
        from bot.teams import TEAMS_ADAPTER

        # Proactive sends share the replies' connector clients and HTTP session; this cleanup
        # runs before setup_teams' closes that session (cleanup_ctx comes first in on_cleanup).
        teams_adapter = app[TEAMS_ADAPTER]
    delivery = build_delivery(
        app[SETTINGS],
        app[STORE],
        jobs=app[CORE].run_jobs,
        metrics=app[METRICS].delivery,
        teams_adapter=teams_adapter,
    )
    app[DELIVERY] = delivery
    delivery.start()
    yield
    await delivery.stop()


async def _stop_claiming(app: web.Application) -> None:
    """SIGTERM: on_shutdown runs before aiohttp waits for the requests in flight, so no rows
    are claimed meanwhile; the sends in flight finish in ``stop``, at cleanup."""
    if DELIVERY in app:
        app[DELIVERY].stop_sending()


async def _close_store(app: web.Application) -> None:
    await app[STORE].close()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def download(request: web.Request) -> web.Response:
    """A report export: the token in the link is the only key, it lasts a day."""
    found = await request.app[CORE].download(request.match_info["token"])
    if found is None:
        return web.Response(
            status=404,
            text="This download link has expired or never existed. "
            "Ask partnerbot for the report again (checkin report format=...).\n",
        )
    return web.Response(
        body=found.data,
        headers={
            "Content-Type": found.media_type,
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
