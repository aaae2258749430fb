"""Fixtures for the tests that drive the real app over HTTP, with fakes of the remote services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.bot.fake_connector import FakeConnector
from tests.bot.fake_slack import SECRET, TOKEN, FakeSlack, SlackSender

ADMIN = "U1"  # the Slack coordinator, from PARTNERBOT_ADMINS


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


def slack_settings(make_settings: Callable[..., Any], fake_slack: FakeSlack, **extra: Any) -> Any:
    """Production with Slack only, against ``fake_slack``, ADMIN its coordinator."""
    return make_settings(
        env="production",
        admins=ADMIN,
        slack_signing_secret=SECRET,
        slack_bot_token=TOKEN,
        slack_api_url=fake_slack.api_url,
        **extra,
    )


@pytest.fixture
async def slack(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], serve_app: Callable[..., Any]
) -> SlackSender:
    """The app in production with Slack only (``fake_slack`` is the module's own), ADMIN its
    coordinator; returns the signed-request sender."""
    settings = slack_settings(make_settings, fake_slack)
    return SlackSender(await serve_app(settings) + "/slack/events")


@pytest.fixture
async def slack_app(
    fake_slack: FakeSlack, make_settings: Callable[..., Any], serve_app: Callable[..., Any]
) -> tuple[SlackSender, str]:
    """The app in production with Slack only (``fake_slack`` is the module's own), delivering
    queued messages every 0.1 s; returns the signed-request sender and the app's base URL."""
    settings = slack_settings(make_settings, fake_slack, dispatch_interval="0.1")
    base = await serve_app(settings)
    return SlackSender(base + "/slack/events"), base
