"""Fixtures the delivery tests share; each module gives the ``clock`` its fakes run on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.scheduler.fakes import LimitedSlack


@pytest.fixture
async def slack(clock) -> AsyncIterator[LimitedSlack]:
    """A fake Slack Web API that enforces one post a second per channel on the module's clock."""
    fake = LimitedSlack(clock=clock)
    await fake.start()
    yield fake
    await fake.close()
