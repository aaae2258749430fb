"""What an operator's load balancer and Prometheus see: /healthz, /readyz with its reason, and
/metrics counting requests, sends, 429s and the outbox's backlog - from the real app over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from dialogs.outbox import Kind, ToMember, queue
from dialogs.views import View
from storage.db import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from storage.revisions import head_revision
from tests.bot.fake_slack import SECRET, TOKEN, FakeSlack, SlackSender
from tests.bot.test_slack import slash
from tests.scheduler.test_workers import members_with_dms


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={"U1": "Aisha Khan"})
    await fake.start()
    yield fake
    await fake.close()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def post(url: str, body: bytes, **headers: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, content_type, text = await get(base + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    return samples(text)


def sqlite_settings(path, **variables: str):
    environ = {"PARTNERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    environ.update({f"PARTNERBOT_{k.upper()}": v for k, v in variables.items()})
    return load_settings(environ)


# -- readiness --------------------------------------------------------------------------------


async def test_a_migrated_database_is_ready(make_settings, serve_app):
    base = await serve_app(make_settings())
    assert await get(base + "/healthz") == (
        200,
        "application/json; charset=utf-8",
        '{"status": "ok"}',
    )
    status, _, text = await get(base + "/readyz")
    assert status == 200, text
    assert f'"migration": "{head_revision()}"' in text


async def test_a_database_behind_the_code_is_not_ready_and_says_what_to_run(tmp_path, serve_app):
    path = tmp_path / "old.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}", "0001")
    base = await serve_app(sqlite_settings(path, dispatcher_in_web="false"))
    status, _, text = await get(base + "/readyz")
    assert status == 503
    assert (
        f"the database is at migration 0001 but this version of partnerbot needs {head_revision()}"
        in text
    )
    assert "run `partnerbot db upgrade`" in text
    assert (await get(base + "/healthz"))[0] == 200  # alive all the same: don't restart it


async def test_an_empty_database_is_not_ready(tmp_path, serve_app):
    base = await serve_app(sqlite_settings(tmp_path / "new.db", dispatcher_in_web="false"))
    status, _, text = await get(base + "/readyz")
    assert status == 503
    assert "the database has no migrations applied: run `partnerbot db upgrade`" in text


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://partnerbot:secret-password@127.0.0.1:1/partnerbot",
        "sqlite+aiosqlite:////nonexistent-folder/partnerbot.db",
    ],
)
async def test_an_unreachable_database_is_not_ready_and_the_reason_keeps_its_address_private(
    url, serve_app
):
    settings = load_settings(
        {"PARTNERBOT_DATABASE_URL": url, "PARTNERBOT_DISPATCHER_IN_WEB": "false"}
    )
    base = await serve_app(settings)
    status, _, text = await get(base + "/readyz")
    assert status == 503
    assert "the database is unreachable" in text
    assert "secret-password" not in text and "127.0.0.1:1" not in text
    # Metrics still answer, with what the process itself counted.
    assert (await get(base + "/metrics"))[0] == 200
    # aiosqlite stops the worker thread of a connection that failed to open by posting to this
    # loop; let it, before the test's loop closes (else its thread raises after the test).
    await asyncio.sleep(0.2)


# -- metrics ----------------------------------------------------------------------------------


async def test_requests_are_counted_by_platform_and_outcome(fake_slack, make_settings, serve_app):
    settings = make_settings(
        env="production",
        admins="U1",
        slack_signing_secret=SECRET,
        slack_bot_token=TOKEN,
        slack_api_url=fake_slack.api_url,
        dispatcher_in_web="false",
    )
    base = await serve_app(settings)
    slack = SlackSender(base + "/slack/events")
    assert (await slack.command(slash(fake_slack, "help", response="r1")))[0] == 200
    assert (await slack.command(slash(fake_slack, "areas", response="r2")))[0] == 200
    forged = await slack.command(slash(fake_slack, "help", response="r3"), secret="wrong")
    assert forged[0] == 401
    # Production with Slack only: Teams is off, so its path is not found.
    assert await post(base + "/api/messages", b"{}", **{"Content-Type": "application/json"}) == 404
    await get(base + "/readyz")  # probes are not counted

    found = await scrape(base)
    requests = {
        labels: value
        for (name, labels), value in found.items()
        if name == "partnerbot_requests_total"
    }
    assert requests == {
        (("outcome", "ok"), ("platform", "slack")): 2.0,
        (("outcome", "rejected"), ("platform", "slack")): 1.0,
        (("outcome", "rejected"), ("platform", "teams")): 1.0,
    }
    assert found[("partnerbot_request_duration_seconds_count", (("platform", "slack"),))] == 3.0


async def test_sends_429s_and_the_outbox_backlog_are_counted(
    fake_slack, make_settings, serve_app, database_url
):
    store = Store(create_engine(database_url))
    try:
        now = datetime.now(UTC)
        member_ids = await members_with_dms(store, fake_slack, 3, workspaces=1)
        async with store.unit() as uow:
            for member_id in member_ids:
                await queue(
                    uow,
                    key=f"test:{member_id}",
                    kind=Kind.MEETING_ANNOUNCEMENT,
                    to=ToMember(member_id),
                    view=View(f"hello {member_id}"),
                    due_at=now - timedelta(minutes=10),
                    now=now,
                )
        variables = {
            "env": "production",
            "slack_signing_secret": SECRET,
            "slack_bot_token": TOKEN,
            "slack_api_url": fake_slack.api_url,
        }
        # A web process that leaves sending to workers still reports the backlog.
        quiet = await serve_app(make_settings(dispatcher_in_web="false", **variables))
        found = await scrape(quiet)
        assert found[("partnerbot_outbox_due_messages", ())] == 3.0
        assert found[("partnerbot_outbox_oldest_due_age_seconds", ())] >= 600
        assert found[("partnerbot_sends_total", (("outcome", "sent"),))] == 0.0

        # One that sends: Slack answers the first post with a 429.
        fake_slack.failures["chat.postMessage"] = [429]
        sending = await serve_app(make_settings(dispatch_interval="0.1", **variables))

        sent = ("partnerbot_sends_total", (("outcome", "sent"),))
        async with asyncio.timeout(20):
            while True:
                found = await scrape(sending)
                if found[sent] >= 3:
                    break
                await asyncio.sleep(0.1)
    finally:
        await store.close()
    assert found[("partnerbot_send_rate_limited_total", ())] == 1.0
    assert found[("partnerbot_sends_total", (("outcome", "failed"),))] == 0.0
    assert found[("partnerbot_outbox_due_messages", ())] == 0.0
    assert found[("partnerbot_outbox_oldest_due_age_seconds", ())] == 0.0
    assert len(fake_slack.calls_to("chat.postMessage")) == 4  # three, one of them twice
