"""Meeting reminders through the real dispatcher on a stepped clock, across both clock changes in
London and Melbourne: each reminder goes out once, at its moment, to each member who is going or
hasn't answered (never to one who can't come), and so does the check-in message at the start, on
both databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from dialogs.views import View
from scheduler.delivery import Destination, Outcome, Sent
from scheduler.dispatcher import Dispatcher
from storage.db import is_sqlite
from tests.dialogs.conversation import person, say
from tests.scheduler.fakes import VirtualClock

ANN, BOB, CAT = person("Ann"), person("Bob"), person("Cat")
STEP = timedelta(minutes=30)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class RecordingSender:
    clock: VirtualClock
    platform: str = "slack"
    sent: list[tuple[datetime, str, str]] = field(default_factory=list)

    async def send(self, destination: Destination, view: View) -> Outcome:
        target = destination.user_id or destination.conversation_id or "?"
        self.sent.append((self.clock.now(), target, view.summary))
        return Sent(message_id=str(len(self.sent)))


CASES = {
    # Clocks go forward on 29 Mar: 7d before is GMT, 1d before and 1h before are BST.
    "london-spring": (
        "Europe/London",
        "2026-03-30 10:00 remind=7d,1d,1h",
        [utc(2026, 3, 23, 10), utc(2026, 3, 29, 9), utc(2026, 3, 30, 8)],
    ),
    # Clocks go back on 25 Oct: 7d before is BST, 1d and 1h before are GMT.
    "london-autumn": (
        "Europe/London",
        "2026-10-26 10:00 remind=7d,1d,1h",
        [utc(2026, 10, 19, 9), utc(2026, 10, 25, 10), utc(2026, 10, 26, 9)],
    ),
    # A meeting in the hour that happens twice (01:30 BST, the first one): 1h and 30m before.
    "london-repeated-hour": (
        "Europe/London",
        "2026-10-25 01:30 remind=1h,30m",
        [utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 0)],
    ),
    # Melbourne's clocks go back on 5 Apr (AEDT +11 to AEST +10).
    "melbourne-autumn": (
        "Australia/Melbourne",
        "2026-04-06 10:00 remind=7d,1d,1h",
        [utc(2026, 3, 29, 23), utc(2026, 4, 5, 0), utc(2026, 4, 5, 23)],
    ),
    # Melbourne's clocks go forward on 4 Oct (AEST +10 to AEDT +11).
    "melbourne-spring": (
        "Australia/Melbourne",
        "2026-10-05 10:00 remind=7d,1d,1h",
        [utc(2026, 9, 28, 0), utc(2026, 10, 3, 23), utc(2026, 10, 4, 22)],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_reminder_fires_exactly_once_across_clock_changes(
    store, frameworks, database_url, case
):
    zone, when, expected = CASES[case]
    clock = VirtualClock(expected[0] - timedelta(days=1))
    core = Partnerbot(
        store,
        Partnership(first_contact_becomes_coordinator=True, frameworks=frameworks),
        clock=clock.now,
    )
    async with store.unit() as uow:
        await uow.areas.add("Forum area", now=clock.now(), timezone=zone)
    for who in (ANN, BOB, CAT):
        await say(core, who, "me area Forum area")
    answer = await say(core, ANN, f'meeting schedule "Forum" {when}')
    assert f"({zone})" in answer, answer
    assert "Going 0 · Maybe 0 · Can't 1" in await say(core, CAT, "rsvp 1 no")

    sender = RecordingSender(clock)
    dispatcher = Dispatcher(
        store,
        {"slack": sender},
        clock=clock,
        owner="d1",
        single_process=is_sqlite(database_url),
    )
    async with store.unit() as uow:
        meeting = await uow.meetings.get(1)
    while clock.now() <= meeting.starts_at + timedelta(hours=2):
        await dispatcher.run_once(clock.now())
        clock.advance(seconds=STEP.total_seconds())

    reminders = [(at, who, text) for at, who, text in sender.sent if text.startswith("Reminder")]
    for user in (ANN, BOB):
        times = [at for at, who, _ in reminders if who == user.user_id]
        assert times == expected, (user.display_name, times)
        texts = [text for _, who, text in reminders if who == user.user_id]
        assert len(set(texts)) == len(expected)
    assert not [r for r in reminders if r[1] == CAT.user_id]  # she can't come
    # At the start, once each, the message with the button to check in.
    starting = [(at, who) for at, who, text in sender.sent if text.startswith("Starting now")]
    assert sorted(starting) == sorted(
        [(meeting.starts_at, ANN.user_id), (meeting.starts_at, BOB.user_id)]
    )
