"""What the logs hold after the main flows on both platforms, over real HTTP: request ids, and
never a token, a secret or what a member wrote (tests/bot/conftest.py, fakes on loopback)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.bot.fake_slack import SECRET, TOKEN, FakeSlack
from tests.bot.flows import posted_to, until
from tests.bot.test_slack import ADMIN, direct, envelope, slash
from tests.bot.test_teams import JANE, Teams

ANSWER = "Our confidential evidence: the Inverurie pilot reached 61 families"
PRIORITY = "Fund a second family learning worker in Huntly"
OURS = ("bot", "dialogs", "scheduler", "storage", "partnerbot")


def closes() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).date().isoformat()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    for name in OURS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_nothing_secret(logs: pytest.LogCaptureFixture, *secrets: str) -> None:
    text = "\n".join(
        record.getMessage() + " " + str(record.exc_text or "") for record in logs.records
    )
    for secret in (ANSWER, PRIORITY, *secrets):
        assert secret not in text, f"{secret!r} was logged"
    commands = [r for r in logs.records if r.getMessage().startswith("command ")]
    assert commands, "no command was logged"
    assert all(r.request_id not in ("", "-") for r in commands)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", "U2": "Ben Ortiz"})
    await fake.start()
    yield fake
    await fake.close()


async def test_a_slack_check_in_logs_no_token_secret_or_answer(slack_app, fake_slack, logs):
    slack, _ = slack_app
    await slack.command(slash(fake_slack, "area add Marr", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)
    say = [
        ("me area Marr", "U2", "D2"),
        ("checkin", "U2", "D2"),
    ]
    for n, (text, user, channel) in enumerate(say):
        await slack.event(
            envelope(direct(text, ts=f"1.{n}", user=user, channel=channel), event_id=f"E{n}")
        )
        await until(lambda n=n: len(posted_to(fake_slack, "D2")) > n)
    await slack.command(
        slash(
            fake_slack,
            f"checkin start qi-3.2 questions=1 areas=Marr closes={closes()}",
            response="r2",
        )
    )
    await fake_slack.wait_for("response/r2")
    before = len(posted_to(fake_slack, "D2"))
    for n, text in enumerate(("checkin", "4", ANSWER, "-", PRIORITY), start=10):
        await slack.event(
            envelope(direct(text, ts=f"2.{n}", user="U2", channel="D2"), event_id=f"E{n}")
        )
        await until(lambda b=before: len(posted_to(fake_slack, "D2")) > b)
        before = len(posted_to(fake_slack, "D2"))
    await slack.event(
        envelope(direct("checkin report format=md", ts="3.1", channel="D1"), event_id="E99")
    )
    await until(lambda: any("/exports/" in c.body["text"] for c in posted_to(fake_slack, "D1")))
    assert_nothing_secret(logs, SECRET, TOKEN)


@pytest.fixture
async def teams(make_settings, serve_app, connector) -> AsyncIterator[Teams]:
    base = await serve_app(make_settings(dispatch_interval="0.1"))
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector)


async def test_a_teams_check_in_logs_no_answer_and_tags_requests(teams, connector, logs):
    jane_chat = {"conversationType": "personal", "id": "a:1jane", "tenantId": "t1"}
    await teams.say("area add Marr")
    await teams.say("me area Marr", sender=JANE, conversation=jane_chat)
    await teams.say(f"checkin start qi-3.2 questions=1 areas=Marr closes={closes()}")
    for text in ("checkin", "5", ANSWER, "-", PRIORITY):
        response = await teams.post(teams.message(text, sender=JANE, conversation=jane_chat))
        assert response.headers["X-Request-Id"]
    await teams.say("checkin report format=csv")
    await until(lambda: any("/exports/" in str(s.activity) for s in connector.sent))
    assert_nothing_secret(logs)
    # A sane request id from a proxy is kept and echoed; anything else is replaced.
    async with teams.session.post(
        teams.url, json=teams.message("help"), headers={"X-Request-Id": "lb-7f3a"}
    ) as response:
        assert response.headers["X-Request-Id"] == "lb-7f3a"
    async with teams.session.post(
        teams.url, json=teams.message("help"), headers={"X-Request-Id": "<script>"}
    ) as response:
        assert response.headers["X-Request-Id"] != "<script>"
