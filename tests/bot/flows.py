"""Helpers for tests that follow a flow across several requests to the real app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.bot.fake_slack import FakeSlack


def posted_to(fake: FakeSlack, channel: str) -> list[Any]:
    """The chat.postMessage calls the bot made to ``channel``, in order."""
    return [c for c in fake.calls_to("chat.postMessage") if c.body.get("channel") == channel]


async def until(condition: Callable[[], Any], within: float = 10.0) -> Any:
    """What ``condition`` returns once it is truthy (the bot answers after acking)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        found = condition()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the bot did not get there in time")
