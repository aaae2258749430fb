"""A member's data over real HTTP on each platform: they report a risk (which the delivery
engine brings to the coordinator), download the copy of their data from the link the bot gives
(the JSON checked), then erase it with the prompt's own button, and are gone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from storage.models import Identity, Member, Risk
from tests.bot.fake_slack import FakeSlack
from tests.bot.flows import posted_to, until
from tests.bot.test_checkin_flow import fetch, personal, sent_to
from tests.bot.test_forms import teams_submit
from tests.bot.test_slack import button_press, direct, envelope, slash
from tests.bot.test_teams import JANE, Teams

RISK = "The venue's funding ends in April"


async def people(store) -> set[str]:
    """The platform user ids the bot still knows."""
    async with store.unit() as uow:
        return set(await uow.session.scalars(select(Identity.user_id)))


async def member_count(store) -> int:
    async with store.unit() as uow:
        return len(list(await uow.session.scalars(select(Member.id))))


def check_copy(body: str, *, name: str, user_id: str, platform: str) -> dict:
    data = json.loads(body)
    assert data["format"] == "partnerbot-my-data"
    assert data["member"]["name"] == name and data["member"]["area"] == "Marr"
    [identity] = data["identities"]
    assert (identity["platform"], identity["user_id"]) == (platform, user_id)
    assert [risk["text"] for risk in data["risks_reported"]] == [RISK]
    assert "serviceUrl" not in body and "service_url" not in body
    return data


# -- Slack ------------------------------------------------------------------------------------


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={"U1": "Aisha Khan", "U2": "Ben Ortiz"})
    await fake.start()
    yield fake
    await fake.close()


async def test_slack_member_reports_a_risk_exports_and_erases_their_data(
    slack_app, fake_slack, store
):
    slack, base = slack_app
    await slack.command(slash(fake_slack, "area add Marr", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)
    await slack.event(envelope(direct("help", ts="1.0"), event_id="E0"))  # Aisha's DM
    await until(lambda: posted_to(fake_slack, "D1"))
    ben = 0

    async def ben_says(text: str) -> list:
        nonlocal ben
        ben += 1
        before = len(posted_to(fake_slack, "D2"))
        await slack.event(
            envelope(direct(text, ts=f"2.{ben}", user="U2", channel="D2"), event_id=f"E2-{ben}")
        )
        return await until(lambda: posted_to(fake_slack, "D2")[before:])

    # His first message: the welcome, then the answer; wait for both before he goes on.
    await ben_says("me area Marr")
    await until(lambda: any("now in Marr" in c.body["text"] for c in posted_to(fake_slack, "D2")))
    [thanks] = await ben_says(f"risk {RISK}")
    assert "Thank you: risk 1 is sent privately to your coordinator" in thanks.body["text"]
    # The coordinator has no programme manager above her: the alert comes to her DM.
    alert = await until(
        lambda: next((c for c in posted_to(fake_slack, "D1") if RISK in c.body["text"]), None)
    )
    assert "Ben Ortiz" in " ".join(alert.texts())

    [ready] = await ben_says("mydata export")
    (button,) = [e for b in ready.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Download JSON"
    status, disposition, body = await fetch(base, button["url"])
    assert status == 200 and disposition.endswith('.json"')
    check_copy(body, name="Ben Ortiz", user_id="U2", platform="slack")

    [prompt] = await ben_says("mydata delete")
    assert ("Erase my data", "mydata delete confirm") in prompt.buttons()
    assert await people(store) == {"U1", "U2"}
    before = len(posted_to(fake_slack, "D2"))
    press = button_press(
        fake_slack,
        "mydata delete confirm",
        response="r2",
        user="U2",
        channel_id="D2",
        ephemeral=False,
    )
    assert await slack.interaction(press) == (200, "")
    [done] = await until(lambda: posted_to(fake_slack, "D2")[before:])
    assert "Done: your data is erased" in done.body["text"]
    assert await people(store) == {"U1"} and await member_count(store) == 1
    async with store.unit() as uow:
        [risk] = await uow.session.scalars(select(Risk))
    assert risk.reporter_id is None and risk.text == RISK
    # The copy's link belonged to him: it went with him.
    assert (await fetch(base, button["url"]))[0] == 404


# -- Teams ------------------------------------------------------------------------------------


@pytest.fixture
async def teams(make_settings, serve_app, connector) -> AsyncIterator[tuple[Teams, str]]:
    base = await serve_app(make_settings(dispatch_interval="0.1", retention_months="24"))
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector), base


JANE_CHAT = "a:1personal-chat-with-jane"


async def test_teams_member_exports_and_erases_their_data(teams, connector, store):
    teams, base = teams
    await teams.say("area add Marr")  # Ann, first to arrive in development, coordinates

    async def jane_says(text: str = "", value: dict | None = None) -> list:
        before = len(sent_to(connector, JANE_CHAT))
        if value is None:
            await teams.say(text, sender=JANE, conversation=personal(JANE_CHAT))
        else:
            await teams.post(
                teams.activity(
                    "message", sender=JANE, conversation=personal(JANE_CHAT), value=value
                )
            )
        return await until(lambda: sent_to(connector, JANE_CHAT)[before:])

    await jane_says("me area Marr")
    await jane_says(f"risk {RISK}")
    # The retention setting reaches the notice.
    [notice] = await jane_says("help privacy")
    assert any("24 months after a check-in closes" in t for t in notice.card_texts)

    [ready] = await jane_says("mydata export")
    [link] = [
        action
        for element in ready.card["body"]
        for action in element.get("actions", ())
        if action["type"] == "Action.OpenUrl"
    ]
    assert link["title"] == "Download JSON"
    status, _, body = await fetch(base, link["url"])
    assert status == 200
    data = check_copy(body, name="Jane Doe", user_id=JANE["id"], platform="teams")
    # Her own account from the stored conversation reference, not the bot's routing.
    assert data["identities"][0]["private_chat_account"]["id"] == JANE["id"]

    [prompt] = await jane_says("mydata delete")
    assert [title for title, _ in prompt.buttons] == ["Erase my data", "Keep it"]
    [done] = await jane_says(value=teams_submit(prompt.card, "Erase my data", {}))
    assert "Done: your data is erased" in " ".join([done.text or "", *done.card_texts])
    assert JANE["id"] not in await people(store)
    assert await member_count(store) == 1  # Ann
