"""What an operator's load balancer and Prometheus ask of a running process: ``GET /healthz``
(the process answers), ``GET /readyz`` (it can serve: the database answers and its schema is the
one this code expects) and ``GET /metrics`` (Prometheus text format).

Each app has its own metrics registry, so several apps in one process (the tests) never share
counts. Requests are counted at the edge, in a middleware; sends are counted from the delivery
engine's reports (scheduler/metrics.py); the outbox's depth is read from the database when
Prometheus scrapes, so any replica reports the same figure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.exc import SQLAlchemyError

from scheduler.metrics import DeliveryMetrics
from storage.repositories import Store
from storage.revisions import current_revision, head_revision

logger = logging.getLogger(__name__)

# Paths that are the platforms' webhooks; everything else a person or a probe asks for.
PLATFORM_PATHS = {"/api/messages": "teams", "/slack/events": "slack"}
# Probes and scrapes come every few seconds and would drown the traffic that matters.
UNCOUNTED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
READY_TIMEOUT = 5.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """Every metric of one process, in its own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        registry = self.registry
        self.requests = Counter(
            "partnerbot_requests",
            "HTTP requests by platform (teams, slack, web) and outcome (ok, rejected: 4xx, "
            "error: 5xx)",
            ["platform", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "partnerbot_request_duration_seconds",
            "Time to answer a request, by platform",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.outbox_due = Gauge(
            "partnerbot_outbox_due_messages",
            "Proactive messages due now and not yet sent (pending or being sent)",
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            "partnerbot_outbox_oldest_due_age_seconds",
            "How long the oldest pending message has been due (0 when nothing is due)",
            registry=registry,
        )
        self.slack_waiting = Gauge(
            "partnerbot_slack_waiting_payloads",
            "Slack payloads acked whose work has not started",
            registry=registry,
        )
        self.slack_refused = Counter(
            "partnerbot_slack_refused",
            "Slack requests refused because too many acked payloads were waiting",
            registry=registry,
        )
        self.delivery = DeliveryMetrics(registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


@dataclass(frozen=True, slots=True)
class _Ops:
    metrics: Metrics
    store: Store
    clock: Callable[[], datetime]
    head: str | None


OPS = web.AppKey("ops", _Ops)


def setup_operations(
    app: web.Application, store: Store, *, clock: Callable[[], datetime], metrics: Metrics
) -> None:
    app[OPS] = _Ops(metrics=metrics, store=store, clock=clock, head=head_revision())
    app.middlewares.append(count_requests)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)


def _outcome(status: int) -> str:
    if status >= 500:
        return "error"
    if status >= 400:
        return "rejected"
    return "ok"


@web.middleware
async def count_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path in UNCOUNTED_PATHS:
        return await handler(request)
    metrics = request.app[OPS].metrics
    platform = PLATFORM_PATHS.get(request.path, "web")
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        metrics.latency.labels(platform).observe(time.perf_counter() - started)
        metrics.requests.labels(platform, _outcome(status)).inc()


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and is at this code's migration head; otherwise 503 and
    the reason, so a load balancer keeps traffic away and a person knows what to do."""
    ops = request.app[OPS]
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            current = await current_revision(ops.store.engine)
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        # The error's text may hold the database's address; its type is enough to start from.
        logger.warning("readiness: database unreachable (%s)", type(error).__name__)
        return _not_ready(f"the database is unreachable ({type(error).__name__})")
    if current is None:
        return _not_ready("the database has no migrations applied: run `partnerbot db upgrade`")
    if current != ops.head:
        return _not_ready(
            f"the database is at migration {current} but this version of partnerbot needs "
            f"{ops.head}: run `partnerbot db upgrade` (or deploy the version that matches)"
        )
    return web.json_response({"status": "ready", "migration": current})


def _not_ready(reason: str) -> web.Response:
    return web.json_response({"status": "not ready", "reason": reason}, status=503)


async def metrics_page(request: web.Request) -> web.Response:
    ops = request.app[OPS]
    now = ops.clock()
    try:
        async with asyncio.timeout(READY_TIMEOUT), ops.store.unit() as uow:
            due = await uow.outbox.outstanding(now)
            oldest = await uow.outbox.oldest_pending_due()
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        # The request and send counters are still worth scraping without the database.
        logger.warning("metrics: outbox unreadable (%s)", type(error).__name__)
    else:
        ops.metrics.outbox_due.set(due)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        ops.metrics.outbox_oldest_age.set(max(age, 0.0))
    return web.Response(
        body=ops.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
