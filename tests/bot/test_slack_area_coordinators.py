"""Area coordinators over real HTTP: Slack requests signed as Slack signs them, a coordinator of
one area typing and forging buttons about another area's meeting, answered through the fake
Slack Web API; what was saved is checked in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.models import Meeting
from tests.bot.fake_slack import FakeSlack
from tests.bot.test_slack import ADMIN, button_press, member_of, reply_texts, slash

BEN = "U2"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", BEN: "Ben Ortiz"})
    await fake.start()
    yield fake
    await fake.close()


async def test_a_coordinator_of_one_area_cannot_touch_another_areas_meeting(
    slack, fake_slack, store
):
    async def admin(text: str, response: str, count: int = 1) -> list[str]:
        await slack.command(slash(fake_slack, text, response=response))
        return await reply_texts(fake_slack, f"response/{response}", count=count)

    async def ben(text: str, response: str, count: int = 1) -> list[str]:
        await slack.command(slash(fake_slack, text, response=response, user=BEN, user_name="ben"))
        return await reply_texts(fake_slack, f"response/{response}", count=count)

    await admin("area add Marr", "a1", count=2)
    await admin("area add Formartine", "a2")
    assert "Ben Ortiz is now coordinator of Marr: they run check-ins, meetings and reports " in (
        " ".join(await admin("role <@U2|ben> coordinator area=Marr", "a3"))
    )
    # Ben was registered when he was named; his first word to the bot needs no welcome.
    assert "You're now in Marr." in " ".join(await ben("me area Marr", "b1"))
    scheduled = " ".join(
        await admin('meeting schedule "Formartine forum" 2030-04-01 10:00 area=Formartine', "a4")
    )
    assert "Formartine forum" in scheduled

    # A forged button: Ben presses "meeting cancel 1" as if it were his.
    await slack.interaction(button_press(fake_slack, "meeting cancel 1", response="b2", user=BEN))
    refused = " ".join(await reply_texts(fake_slack, "response/b2"))
    assert (
        "Sorry, you can't cancel meeting 1 (Formartine forum): you coordinate Marr, and "
        "Formartine has no coordinator of its own. Ask a partnership coordinator (Aisha Khan)."
    ) in refused
    assert "Sorry, `area add` is for partnership coordinators." in " ".join(
        await ben("area add Buchan", "b3")
    )
    member, _, _ = await member_of(store, BEN)
    async with store.unit() as uow:
        meeting = (await uow.session.scalars(select(Meeting))).one()
        assert (meeting.status, meeting.revision) == ("scheduled", 0)
        assert [a.name for a in await uow.areas.all()] == ["Formartine", "Marr"]
        assert await uow.members.standing_of(member.id) == (
            frozenset(),
            frozenset({(await uow.areas.by_name("Marr")).id}),
        )
    # For his own area he may.
    own = " ".join(await ben('meeting schedule "Marr forum" 2030-05-01 10:00 area=Marr', "b4"))
    assert "Marr forum" in own and "Sorry" not in own
