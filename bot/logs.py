"""Logs that can be followed and leak nothing: every record carries the id of the request it
was logged for (``request_id``; "-" outside a request), taken from a sane ``X-Request-Id`` header
or made up, and echoed in the response. What we log never holds a token, a secret or what a
member wrote; tests/bot/test_logs.py runs the main flows and checks."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from aiohttp import web

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_installed = False


def install_record_factory() -> None:
    """Give every log record, from any library, the current request id (once per process)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


@web.middleware
async def with_request_id(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    # An id to find one request's lines by, not a secret: random's generator, not the
    # system's (uuid4 reads os.urandom, a system call on every request).
    request_id = given if _SANE.fullmatch(given) else f"{random.getrandbits(48):012x}"
    token = REQUEST_ID.set(request_id)  # work the request starts (Slack's lazy listeners) keeps it
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers["X-Request-Id"] = request_id
        raise
    finally:
        REQUEST_ID.reset(token)
    response.headers["X-Request-Id"] = request_id
    return response
