"""The audit trail of coordinator actions, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from tests.dialogs.conversation import START, person, say

ANN, BOB = person("Ann"), person("Bob")


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(
        store,
        Partnership(
            first_contact_becomes_coordinator=True,
            frameworks=frameworks,
            public_url="https://bot.example.org",
        ),
        clock=clock,
    )
    await say(bot, ANN, "area add Marr")
    await say(bot, ANN, "me area Marr")
    await say(bot, BOB, "me area Marr")
    return bot


async def test_coordinator_actions_are_recorded_and_readable_by_coordinators(core, clock):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3 closes=2026-03-31")
    clock.now = START + timedelta(minutes=5)
    await say(core, BOB, "checkin answer 1 1", form={"rating": "4", "evidence": "Private words"})
    await say(core, ANN, "role @Bob manager", [BOB])
    clock.now = START + timedelta(minutes=10)
    await say(core, ANN, "checkin report format=csv")
    await core.run_jobs(datetime(2026, 4, 1, 0, 0, tzinfo=UTC))  # closes on time

    trail = await say(core, ANN, "audit")
    lines = [line.strip() for line in trail.split("\n") if line.strip().startswith("- ")]
    assert lines == [
        "- 01 Apr 2026 01:00 - partnerbot - cycle closed: check-in 1 (qi-3.2)",
        "- 02 Mar 2026 09:10 - Ann - report exported: check-in 1 as CSV",
        "- 02 Mar 2026 09:05 - Ann - role changed: Bob is now a manager",
        "- 02 Mar 2026 09:00 - Ann - cycle opened: check-in 1: QI 3.2 Partnership working",
    ]
    assert "Private words" not in trail  # never an answer
    only_roles = await say(core, ANN, 'audit action="role changed"')
    assert "Bob is now a manager" in only_roles and "cycle opened" not in only_roles
    # Bob is a manager now, so he may read it; a plain member may not.
    assert "Bob is now a manager" in await say(core, BOB, "audit")
    cat = person("Cat")
    assert "for partnership coordinators and programme managers" in await say(core, cat, "audit")
