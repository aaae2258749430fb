"""Forum meetings as coordinators and members live them, on a fixed clock, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar
from sqlalchemy import func, select

from bot.render_text import render_text
from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from dialogs.views import Actions, view_from_dict
from storage.models import Export, Meeting, MeetingRsvp, OutboxMessage
from tests.dialogs.conversation import START, channel, person, say

ANN, BOB, CAT, DAN = person("Ann"), person("Bob"), person("Cat"), person("Dan")
LONDON = ZoneInfo("Europe/London")
MARR_FORUM = 'meeting schedule "Marr forum" 2026-05-12 10:30 where="Town Hall, Inverurie"'


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(
        store,
        Partnership(first_contact_becomes_coordinator=True, frameworks=frameworks),
        clock=clock,
    )
    await say(bot, ANN, "area add Marr")
    await say(bot, ANN, "area add Formartine")
    await say(bot, ANN, "me area Marr")
    await say(bot, BOB, "me area Marr")
    await say(bot, CAT, "me area Formartine")
    return bot


async def teams_channel_for(store, area: str) -> int:
    """A Teams channel linked to the area (as a Teams coordinator would with `area channel`)."""
    async with store.unit() as uow:
        row = await uow.conversations.remember(
            platform="teams",
            tenant_id="tenant-1",
            conversation_id="19:marr@thread.tacv2",
            kind="channel",
            name="Marr forum",
            reference={"conversation": {"id": "19:marr@thread.tacv2"}},
            now=START,
        )
        row.area_id = (await uow.areas.by_name(area)).id
        return row.id


async def count(store, model) -> int:
    async with store.unit() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model))


async def outbox(store) -> dict[str, OutboxMessage]:
    async with store.unit() as uow:
        return {row.key: row for row in await uow.session.scalars(select(OutboxMessage))}


def pending(rows: dict[str, OutboxMessage], part: str) -> list[OutboxMessage]:
    return [row for key, row in rows.items() if part in key and row.status == "pending"]


def reminders(rows: dict[str, OutboxMessage]) -> list[OutboxMessage]:
    """The pending reminders before a meeting (not the check-in message at its start)."""
    return [row for row in pending(rows, ":remind:") if not row.key.endswith(":start")]


def check_ins(rows: dict[str, OutboxMessage]) -> list[OutboxMessage]:
    """The pending check-in messages due at a meeting's start."""
    return [row for row in pending(rows, ":remind:") if row.key.endswith(":start")]


async def member_id(store, user) -> int:
    async with store.unit() as uow:
        identity = await uow.members.identity(user.platform, user.tenant_id, user.user_id)
        return identity.member_id


async def ics_of(
    core: Partnerbot, row: OutboxMessage, label: str = "Add to calendar (.ics)"
) -> tuple[str, Calendar]:
    view = view_from_dict(row.view)
    (calendar,) = [
        b for block in view.blocks if isinstance(block, Actions) for b in block.buttons if b.url
    ]
    assert calendar.label == label
    download = await core.download(calendar.url.rsplit("/", 1)[1])
    return download.media_type, Calendar.from_ical(download.data)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ('meeting schedule "Forum" 2026-02-30 10:00', "`2026-02-30` is not a date"),
        (
            'meeting schedule "Forum" 2026-03-29 01:30',
            "01:30 on 29 Mar 2026 doesn't exist in Europe/London: the clocks go forward then",
        ),
        (
            'meeting schedule "Forum" 2026-03-28 01:30 repeat=yearly',
            "01:30 on 28 Mar 2027 doesn't exist in Europe/London: the clocks go forward then "
            "(meeting 2 of the series, pick another time)",
        ),
        (
            'meeting schedule "Forum" 2026-03-02 08:59',
            "Mon 02 Mar 2026 08:59 (Europe/London) is in the past: it's now Mon 02 Mar 2026 "
            "09:00 there.",
        ),
        ('meeting schedule "Forum" 2026-05-12 10:00 area=Nowhere', "There's no area called"),
    ],
)
async def test_a_bad_meeting_is_refused_with_the_reason_and_nothing_is_saved(
    core, store, command, reason
):
    assert reason in await say(core, ANN, command)
    assert await count(store, Meeting) == 0
    assert await count(store, Export) == 0
    assert await outbox(store) == {}


async def test_only_coordinators_schedule(core, store):
    assert "is for coordinators" in await say(core, BOB, MARR_FORUM)
    assert await count(store, Meeting) == 0


async def test_a_meeting_is_announced_in_the_areas_channels_on_every_platform(core, store):
    assert "Marr's meetings will be announced in this channel." in await say(
        core, ANN, "area channel Marr", where=channel("marr")
    )
    teams = await teams_channel_for(store, "Marr")
    answer = await say(core, ANN, MARR_FORUM)
    assert (
        "Scheduled Marr forum (meeting 1) for Marr: Tue 12 May 2026 10:30 (Europe/London)."
        in answer
    )
    assert "Announcing it in 2 channels." in answer
    assert "Reminders 7 days, 1 day, 1 hour before, to 2 members" in answer
    async with store.unit() as uow:
        meeting = await uow.meetings.get(1)
        assert meeting.starts_at == datetime(2026, 5, 12, 9, 30, tzinfo=UTC)
        assert meeting.timezone == "Europe/London"
    rows = await outbox(store)
    announcements = pending(rows, ":announce:")
    assert len(announcements) == 2
    async with store.unit() as uow:
        slack = await uow.conversations.find("slack", "T1", "CMARR")
    assert {row.conversation_id for row in announcements} == {slack.id, teams}
    assert all(row.kind == "meeting.announcement" for row in announcements)
    text = render_text(view_from_dict(announcements[0].view))
    assert "FORUM MEETING 1: MARR FORUM" in text
    assert "When   Tue 12 May 2026 10:30 (Europe/London), 90 minutes" in text
    assert "Where  Town Hall, Inverurie" in text
    assert "Sharing practice" in text
    assert "Replies so far: Going 0 · Maybe 0 · Can't 0" in text
    assert "[Going: rsvp 1 yes]   [Maybe: rsvp 1 maybe]   [Can't: rsvp 1 no]" in text

    media_type, calendar = await ics_of(core, announcements[0])
    assert media_type == "text/calendar; charset=utf-8"
    (event,) = calendar.walk("VEVENT")
    assert str(event["summary"]) == "Marr forum"
    assert str(event["location"]) == "Town Hall, Inverurie"
    assert event.decoded("dtstart") == datetime(2026, 5, 12, 10, 30, tzinfo=LONDON)
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=90)
    assert "Sharing practice" in str(event["description"])
    assert "RRULE" not in event
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]

    # Reminders to Marr's two members (not Cat, in Formartine), 7d, 1d and 1h before.
    before = reminders(rows)
    assert len(before) == 6
    assert sorted({row.due_at for row in before}) == [
        datetime(2026, 5, 5, 9, 30, tzinfo=UTC),
        datetime(2026, 5, 11, 9, 30, tzinfo=UTC),
        datetime(2026, 5, 12, 8, 30, tzinfo=UTC),
    ]
    assert all(row.not_after == meeting.starts_at for row in before)
    cat = await member_id(store, CAT)
    assert cat not in {row.member_id for row in before}
    # Each reminder asks whether they're coming, with the RSVP buttons.
    text = render_text(view_from_dict(before[0].view))
    assert "[Going: rsvp 1 yes]   [Maybe: rsvp 1 maybe]   [Can't: rsvp 1 no]" in text
    assert "[Check in" not in text
    # At the start, each gets the button that checks them in, good until the meeting ends.
    starting = check_ins(rows)
    assert sorted(row.member_id for row in starting) == sorted(
        [await member_id(store, ANN), await member_id(store, BOB)]
    )
    assert {(row.due_at, row.not_after) for row in starting} == {
        (meeting.starts_at, meeting.ends_at)
    }
    text = render_text(view_from_dict(starting[0].view))
    assert text.startswith(
        "Starting now: Marr forum (meeting 1), Tue 12 May 2026 10:30 (Europe/London), "
        "Town Hall, Inverurie."
    )
    assert "[Check in: attend 1]" in text


async def test_without_a_linked_channel_the_announcement_comes_back_to_share(core, store):
    answer = await say(core, ANN, MARR_FORUM + " area=all")
    assert "for the whole partnership" in answer
    assert "No channel is linked to the whole partnership yet" in answer
    assert "FORUM MEETING 1: MARR FORUM" in answer and "[Going: rsvp 1 yes]" in answer
    assert len(reminders(await outbox(store))) == 9  # all three members


async def test_a_series_carries_its_rrule_and_each_meeting_is_at_local_time(core, store):
    await say(core, ANN, "area channel Marr", where=channel("marr"))
    answer = await say(
        core, ANN, 'meeting schedule "Marr CoP" 2026-03-10 10:00 repeat=twice-yearly remind=1d'
    )
    assert "A series, every 6 months: meetings 1, 2, 3, 4." in answer
    async with store.unit() as uow:
        series = await uow.meetings.in_series(1)
    # 10:00 in London every time: GMT in March, BST in September.
    assert [m.starts_at for m in series] == [
        datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
        datetime(2026, 9, 10, 9, 0, tzinfo=UTC),
        datetime(2027, 3, 10, 10, 0, tzinfo=UTC),
        datetime(2027, 9, 10, 9, 0, tzinfo=UTC),
    ]
    rows = await outbox(store)
    (first,) = [row for key, row in rows.items() if key.startswith("meeting:1:announce:")]
    assert "Series  every 6 months: 10 Mar 2026, 10 Sep 2026, 10 Mar 2027, 10 Sep 2027" in (
        render_text(view_from_dict(first.view))
    )
    # Later meetings are announced again four weeks ahead.
    later = rows["meeting:2:announce:c1:r0"]
    assert later.due_at == datetime(2026, 8, 13, 9, 0, tzinfo=UTC)
    _, calendar = await ics_of(core, first)
    (event,) = calendar.walk("VEVENT")
    assert event["rrule"].to_ical() == b"FREQ=MONTHLY;COUNT=4;INTERVAL=6"
    start = event.decoded("dtstart")
    expanded = list(rrulestr(event["rrule"].to_ical().decode(), dtstart=start))
    assert [moment.astimezone(UTC) for moment in expanded] == [m.starts_at for m in series]


async def test_rsvp_by_button_and_by_text_updates_the_counts_and_the_reminders(core, store):
    await say(core, ANN, "area channel Marr", where=channel("marr"))
    await say(core, ANN, MARR_FORUM)
    bob, cat = await member_id(store, BOB), await member_id(store, CAT)
    # Bob presses Going on the announcement in the channel.
    answer = await say(core, BOB, "rsvp 1 yes", form={}, where=channel("marr"))
    assert (
        "You're going to Marr forum (meeting 1), Tue 12 May 2026 10:30 (Europe/London). "
        "Replies so far: Going 1 · Maybe 0 · Can't 0." in answer
    )
    # Cat, in another area, types maybe in her DM: she is reminded too.
    assert "Going 1 · Maybe 1 · Can't 0" in await say(core, CAT, "rsvp 1 maybe")
    assert len([r for r in reminders(await outbox(store)) if r.member_id == cat]) == 3
    # Bob can't come after all: his pending reminders are withdrawn.
    assert "Going 0 · Maybe 1 · Can't 1" in await say(core, BOB, "rsvp 1 no", form={})
    rows = await outbox(store)
    assert [r for r in pending(rows, ":remind:") if r.member_id == bob] == []
    # A double click changes nothing; changing his mind again brings them back, once each.
    assert "Going 0 · Maybe 1 · Can't 1" in await say(core, BOB, "rsvp 1 no", form={})
    await say(core, BOB, "rsvp 1 yes", form={})
    again = [r for r in reminders(await outbox(store)) if r.member_id == bob]
    assert len(again) == 3 and len({r.due_at for r in again}) == 3
    async with store.unit() as uow:
        answers = {r.member_id: r.answer for r in await uow.session.scalars(select(MeetingRsvp))}
    assert answers == {bob: "yes", cat: "maybe"}
    assert "There's no meeting 9" in await say(core, BOB, "rsvp 9 yes")
    shown = await say(core, CAT, "meeting 1")
    assert "Replies so far: Going 1 · Maybe 1 · Can't 0" in shown


async def test_reminders_are_shown_in_each_members_own_zone(core, store):
    await say(core, BOB, "me tz Australia/Melbourne")
    await say(core, ANN, MARR_FORUM + " remind=1d")
    bob = await member_id(store, BOB)
    rows = {row.member_id: row for row in reminders(await outbox(store))}
    assert rows[bob].view["summary"] == (
        "Reminder: Marr forum starts in 1 day, Tue 12 May 2026 19:30 (Australia/Melbourne), "
        "Town Hall, Inverurie."
    )
    ann = await member_id(store, ANN)
    assert "Mon 11 May" not in rows[ann].view["summary"]
    assert "Tue 12 May 2026 10:30 (Europe/London)" in rows[ann].view["summary"]


async def test_cancelling_cancels_the_reminders_and_tells_those_going(core, store):
    await say(core, ANN, "area channel Marr", where=channel("marr"))
    await say(core, ANN, MARR_FORUM)
    await say(core, BOB, "rsvp 1 yes")
    await say(core, CAT, "rsvp 1 no")
    assert "is for coordinators" in await say(core, BOB, "meeting cancel 1")
    answer = await say(core, ANN, "meeting cancel 1")
    assert "Cancelled Marr forum (meeting 1)." in answer
    assert "1 member who replied have been told" in answer
    rows = await outbox(store)
    assert pending(rows, ":remind:") == [] and pending(rows, ":announce:") == []
    assert all(row.status == "cancelled" for key, row in rows.items() if ":remind:" in key)
    bob = await member_id(store, BOB)
    told = rows[f"meeting:1:cancelled:m{bob}"]
    assert told.kind == "meeting.change" and told.status == "pending"
    assert told.view["summary"] == (
        "Cancelled: Marr forum (meeting 1) on Tue 12 May 2026 10:30 (Europe/London) will not "
        "take place."
    )
    assert len(pending(rows, ":cancelled:c")) == 1  # said in the channel too
    # Bob's calendar is told to drop the event it took from the announcement.
    (announced,) = [row for key, row in rows.items() if key.startswith("meeting:1:announce:")]
    _, first = await ics_of(core, announced)
    (invited,) = first.walk("VEVENT")
    media_type, calendar = await ics_of(core, told, "Remove from calendar (.ics)")
    assert media_type == "text/calendar; charset=utf-8"
    assert str(first["method"]) == "PUBLISH" and str(calendar["method"]) == "CANCEL"
    (event,) = calendar.walk("VEVENT")
    assert str(event["uid"]) == str(invited["uid"]) == "meeting-1@partnerbot"
    assert event["sequence"] > invited["sequence"]
    assert str(event["status"]) == "CANCELLED"
    assert event.decoded("dtstart") == invited.decoded("dtstart")
    assert "RECURRENCE-ID" not in event
    (channel_notice,) = pending(rows, ":cancelled:c")
    _, same = await ics_of(core, channel_notice, "Remove from calendar (.ics)")
    assert same.to_ical() == calendar.to_ical()
    assert "was cancelled" in await say(core, BOB, "rsvp 1 yes")
    assert "already cancelled" in await say(core, ANN, "meeting cancel 1")
    assert "No meetings are scheduled." in await say(core, BOB, "meetings")


async def test_changing_the_time_reschedules_the_reminders_and_tells_those_going(core, store):
    await say(core, ANN, MARR_FORUM)
    await say(core, BOB, "rsvp 1 yes")
    answer = await say(core, ANN, "meeting change 1 time=14:00")
    assert "Changed Marr forum (meeting 1): moved from Tue 12 May 2026 10:30." in answer
    rows = await outbox(store)
    before = reminders(rows)
    assert len(before) == 6
    assert sorted({row.due_at for row in before}) == [
        datetime(2026, 5, 5, 13, 0, tzinfo=UTC),
        datetime(2026, 5, 11, 13, 0, tzinfo=UTC),
        datetime(2026, 5, 12, 12, 0, tzinfo=UTC),
    ]
    assert all("Tue 12 May 2026 14:00" in row.view["summary"] for row in before)
    assert {row.due_at for row in check_ins(rows)} == {datetime(2026, 5, 12, 13, 0, tzinfo=UTC)}
    bob = await member_id(store, BOB)
    assert (
        rows[f"meeting:1:change:r1:m{bob}"]
        .view["summary"]
        .startswith("Marr forum (meeting 1) has changed: moved from Tue 12 May 2026 10:30.")
    )
    # With it, an update for his calendar: the same event, a higher SEQUENCE, the new time.
    told = rows[f"meeting:1:change:r1:m{bob}"]
    media_type, calendar = await ics_of(core, told, "Update my calendar (.ics)")
    assert media_type == "text/calendar; charset=utf-8"
    assert str(calendar["method"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["uid"]) == "meeting-1@partnerbot"
    assert event["sequence"] == 1
    assert event.decoded("dtstart") == datetime(2026, 5, 12, 14, 0, tzinfo=LONDON)
    assert str(event["status"]) == "CONFIRMED"
    await say(core, ANN, "meeting change 1 where=Library")
    rows = await outbox(store)
    _, again = await ics_of(core, rows[f"meeting:1:change:r2:m{bob}"], "Update my calendar (.ics)")
    (event,) = again.walk("VEVENT")
    assert event["sequence"] == 2 and str(event["location"]) == "Library"
    assert "doesn't exist in Europe/London" in await say(
        core, ANN, "meeting change 1 date=2027-03-28 time=01:30"
    )
    assert "in the past" in await say(core, ANN, "meeting change 1 date=2026-03-01")
    assert len(reminders(await outbox(store))) == 6


async def test_changing_or_cancelling_one_meeting_of_a_series_updates_that_occurrence(core, store):
    await say(core, ANN, "area channel Marr", where=channel("marr"))
    await say(core, ANN, 'meeting schedule "Marr CoP" 2026-03-10 10:00 repeat=twice-yearly')
    await say(core, BOB, "rsvp 2 yes")
    await say(core, BOB, "rsvp 3 yes")
    bob = await member_id(store, BOB)
    rows = await outbox(store)
    (shared,) = [row for key, row in rows.items() if key.startswith("meeting:1:announce:")]
    _, series = await ics_of(core, shared)
    (master,) = series.walk("VEVENT")
    assert str(master["uid"]) == "meeting-1@partnerbot" and "RRULE" in master

    # Meeting 2 (10 Sep 2026, 10:00 BST) moves to 14:00: that occurrence of the series' event.
    await say(core, ANN, "meeting change 2 time=14:00")
    rows = await outbox(store)
    _, calendar = await ics_of(
        core, rows[f"meeting:2:change:r1:m{bob}"], "Update my calendar (.ics)"
    )
    assert str(calendar["method"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["uid"]) == str(master["uid"])
    assert event.decoded("recurrence-id") == datetime(2026, 9, 10, 10, 0, tzinfo=LONDON)
    assert event.decoded("dtstart") == datetime(2026, 9, 10, 14, 0, tzinfo=LONDON)
    assert event["sequence"] == 1 and "RRULE" not in event
    # Cancelling it after the move still names the occurrence the rule gave it.
    await say(core, ANN, "meeting cancel 2")
    rows = await outbox(store)
    _, calendar = await ics_of(
        core, rows[f"meeting:2:cancelled:m{bob}"], "Remove from calendar (.ics)"
    )
    assert str(calendar["method"]) == "CANCEL"
    (event,) = calendar.walk("VEVENT")
    assert str(event["uid"]) == "meeting-1@partnerbot" and event["sequence"] == 2
    assert event.decoded("recurrence-id") == datetime(2026, 9, 10, 10, 0, tzinfo=LONDON)
    # Meeting 3, cancelled without a move: its own occurrence, 10 Mar 2027 10:00 GMT.
    await say(core, ANN, "meeting cancel 3")
    rows = await outbox(store)
    _, calendar = await ics_of(
        core, rows[f"meeting:3:cancelled:m{bob}"], "Remove from calendar (.ics)"
    )
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("recurrence-id") == datetime(2027, 3, 10, 10, 0, tzinfo=LONDON)
    assert event["sequence"] == 1


async def test_attendance_during_the_meeting_by_area_and_organisation(core, store, clock):
    await say(core, ANN, MARR_FORUM)
    await say(core, BOB, "me org Aberdeenshire Council")
    await say(core, CAT, "me org Inverurie Academy")
    await say(core, DAN, "me org Aberdeenshire Council")
    clock.now = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)  # 10:00 BST, half an hour early
    assert "Check-in for Marr forum opens Tue 12 May 2026 10:15" in await say(core, BOB, "attend 1")
    clock.now = datetime(2026, 5, 12, 9, 20, tzinfo=UTC)
    assert "Welcome! You're checked in to Marr forum." in await say(core, BOB, "attend 1")
    assert "already checked in" in await say(core, BOB, "attend 1", form={})
    # Checked in: no more reminders for Bob (the 1h one had gone already).
    bob = await member_id(store, BOB)
    assert [r for r in pending(await outbox(store), ":remind:") if r.member_id == bob] == []
    await say(core, CAT, "attend 1")
    assert "Only coordinators can mark" in await say(core, BOB, "attend 1 @Dan")
    clock.now = datetime(2026, 5, 12, 12, 0, tzinfo=UTC)
    assert "ended" in await say(core, DAN, "attend 1")
    assert "Marked Dan as attending Marr forum." in await say(core, ANN, "attend 1 @Dan")
    report = await say(core, ANN, "meeting attendance 1")
    assert "3 partners attended Marr forum (12 May 2026), from 2 organisations." in report
    assert "Formartine  1\nMarr        1\nNo area     1" in report
    assert "Aberdeenshire Council  2\nInverurie Academy      1" in report
    assert "Dan - no area - Aberdeenshire Council (marked by a coordinator)" in report
    member_view = await say(core, BOB, "meeting attendance 1")
    assert "3 partners attended" in member_view and "Who came" not in member_view
    # The directory keeps each area's and partner's attendance history.
    areas = await say(core, BOB, "areas")
    assert "Marr - 2 members - at 1 forum (1 attendance), last 12 May 2026" in areas
    assert "Formartine - 1 member - at 1 forum (1 attendance), last 12 May 2026" in areas
    partners = await say(core, BOB, "partners")
    assert "Aberdeenshire Council - 2 members - at 1 forum (2 attendances), last 12 May 2026" in (
        partners
    )


async def test_meetings_shows_whats_coming_and_each_areas_standing(core, store):
    await say(core, ANN, MARR_FORUM)
    answer = await say(core, BOB, "meetings")
    assert "1. Marr forum - Tue 12 May 2026 10:30 - Marr - 0 going" in answer
    # Facts line up after the longest label, "Whole partnership (once a year)".
    assert f"{'Marr (twice a year)':<33}on track - not met yet; next 12 May 2026" in answer
    assert (
        f"{'Formartine (twice a year)':<33}behind - not met yet; a meeting is needed by "
        "31 Aug 2026 and none is scheduled"
    ) in answer
    # The partnership-wide forum is yearly and a year off: not behind yet.
    assert "Whole partnership (once a year)  not met yet; the next is needed by 02 Mar 2027" in (
        answer
    )


async def test_coordinators_set_each_areas_cadence_and_the_partnerships(core, store, clock):
    assert "Marr should meet 3 times a year" in await say(core, ANN, "meeting cadence Marr 3")
    assert "Formartine keeps no meeting cadence now" in await say(
        core, ANN, "meeting cadence Formartine off"
    )
    assert "The whole partnership should meet twice a year" in await say(
        core, ANN, "meeting cadence all 2"
    )
    assert "1 to 12, or off" in await say(core, ANN, "meeting cadence Marr often")
    assert "There's no area called Nowhere." in await say(core, ANN, "meeting cadence Nowhere 2")
    assert "is for coordinators" in await say(core, BOB, "meeting cadence Marr 1")
    answer = await say(core, BOB, "meetings")
    assert "Marr (3 times a year)" in answer
    assert "Formartine" not in answer.split("standing")[1]
    assert "Whole partnership (twice a year)" in answer
    await core.run_jobs(START)
    rows = await outbox(store)
    warned = sorted(key.split(":")[2] for key in rows if key.startswith("meeting:cadence:"))
    assert warned == ["a1", "all"]  # Marr and the whole partnership; Formartine keeps none
    whole = next(r for k, r in rows.items() if k.startswith("meeting:cadence:all:"))
    assert whole.view["summary"].startswith("The whole partnership is behind its meeting cadence")


async def test_the_weekly_cadence_check_warns_the_areas_coordinators(core, store, clock):
    ann = await member_id(store, ANN)
    await say(core, ANN, MARR_FORUM)
    await core.run_jobs(START)
    await core.run_jobs(START + timedelta(days=2))  # the same week: no second warning
    rows = await outbox(store)
    warnings = [row for key, row in rows.items() if key.startswith("meeting:cadence:")]
    assert [(row.member_id, row.kind) for row in warnings] == [(ann, "notice")]
    assert warnings[0].view["summary"] == (
        "Formartine is behind its meeting cadence: the next forum is needed by 31 Aug 2026 and "
        "none is scheduled. It hasn't met yet."
    )
    # A week later, with Formartine's forum scheduled, nobody is warned.
    await say(core, ANN, 'meeting schedule "Formartine forum" 2026-06-02 18:00 area=Formartine')
    await core.run_jobs(START + timedelta(days=7))
    rows = await outbox(store)
    assert len([key for key in rows if key.startswith("meeting:cadence:")]) == 1
    # After Marr's May forum, its next one is due by November; in August it is not scheduled.
    await core.run_jobs(datetime(2026, 8, 3, 8, 0, tzinfo=UTC))
    rows = await outbox(store)
    late = [row for key, row in rows.items() if key.startswith("meeting:cadence:a1:2026-W32")]
    assert late[0].view["summary"] == (
        "Marr is behind its meeting cadence: the next forum is needed by 10 Nov 2026 and none "
        "is scheduled. It last met 12 May 2026."
    )


async def test_a_coordinator_invites_every_organisation_current_and_past(core, store):
    await say(core, ANN, "partner add Aberdeenshire Council")
    await say(core, ANN, "partner add Old Learning Trust past")
    await say(core, ANN, "partner add Village Hall Group past")
    await say(core, BOB, "me org Aberdeenshire Council")
    await say(core, DAN, "me org Old Learning Trust")  # no area: not in Marr's audience
    await say(core, ANN, MARR_FORUM)
    answer = await say(core, ANN, "meeting invite 1")
    assert (
        "Invited 3 organisations to Marr forum (1 current, 2 past; 3 newly): "
        "Aberdeenshire Council, Old Learning Trust, Village Hall Group. Sending the invitation "
        "to 2 members of theirs" in answer
    )
    # Nobody at the Village Hall Group uses partnerbot: the coordinator is told so by name.
    assert (
        "Couldn't reach 1 organisation: no member of Village Hall Group uses partnerbot. "
        "Invite them another way (email, phone)." in answer
    )
    dan = await member_id(store, DAN)
    rows = await outbox(store)
    invite = rows[f"meeting:1:invite:m{dan}"]
    assert invite.view["summary"].startswith("You're invited 1: Marr forum")
    assert len([r for r in reminders(rows) if r.member_id == dan]) == 3
    async with store.unit() as uow:
        invited = await uow.meetings.invited_organisations(1)
    assert [o.name for o in invited] == [
        "Aberdeenshire Council",
        "Old Learning Trust",
        "Village Hall Group",
    ]
    assert "0 newly" in await say(core, ANN, "meeting invite 1")
    assert len(await outbox(store)) == len(rows)  # asked twice, queued once
    # Once Slack refuses messages to Dan, nobody at the Old Learning Trust can be reached.
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", "T1", DAN.user_id)
        await uow.outbox.mark_unreachable(
            identity_id=identity.id, conversation_row_id=None, reason="account_inactive", now=START
        )
    again = await say(core, ANN, "meeting invite 1")
    assert (
        "Couldn't reach 2 organisations: no member of Village Hall Group uses partnerbot; the "
        "platforms refused messages to every member of Old Learning Trust." in again
    )
    assert "Aberdeenshire Council" not in again.split("Couldn't reach")[1]


async def test_the_meeting_view_tells_coordinators_who_cannot_be_reached(core, store):
    channel_id = await teams_channel_for(store, "Marr")
    await say(core, ANN, MARR_FORUM + " area=Marr")
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", "T1", BOB.user_id)
        await uow.outbox.mark_unreachable(
            identity_id=identity.id, conversation_row_id=None, reason="account_inactive", now=START
        )
        await uow.outbox.mark_unreachable(
            identity_id=None, conversation_row_id=channel_id, reason="Forbidden", now=START
        )
    shown = await say(core, ANN, "meeting 1")
    assert (
        "Can't be reached (the platform refused messages): channels Marr forum; members Bob."
        in shown
    )
    assert "Can't be reached" not in await say(core, BOB, "meeting 1")


async def test_joining_an_area_brings_its_meeting_reminders_and_leaving_drops_them(core, store):
    await say(core, ANN, MARR_FORUM + " area=Marr remind=7d,1d")
    await say(core, DAN, "me")  # registered, in no area yet
    dan, bob = await member_id(store, DAN), await member_id(store, BOB)
    rows = await outbox(store)
    assert [r for r in pending(rows, ":remind:") if r.member_id == dan] == []
    assert len([r for r in reminders(rows) if r.member_id == bob]) == 2

    await say(core, DAN, "me area Marr")
    await say(core, BOB, "me area Formartine")
    rows = await outbox(store)
    dans = sorted(r.due_at for r in reminders(rows) if r.member_id == dan)
    assert dans == [
        datetime(2026, 5, 5, 9, 30, tzinfo=UTC),  # 7 days before 10:30 BST
        datetime(2026, 5, 11, 9, 30, tzinfo=UTC),
    ]
    assert [r for r in pending(rows, ":remind:") if r.member_id == bob] == []
    # An answer still decides: Bob, now elsewhere, says he's going, and is reminded again.
    await say(core, BOB, "rsvp 1 yes")
    rows = await outbox(store)
    assert len([r for r in reminders(rows) if r.member_id == bob]) == 2
