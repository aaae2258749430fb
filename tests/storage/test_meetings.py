"""The meetings repository on SQLite and PostgreSQL: who a meeting is for, RSVPs, attendance
copied at check-in, and the meetings that count for an area's cadence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.models import Meeting

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def meeting(area_id: int | None, starts_at: datetime, status: str = "scheduled") -> Meeting:
    return Meeting(
        title="Forum",
        area_id=area_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        timezone="Europe/London",
        place="",
        agenda=[],
        remind_minutes=[60],
        status=status,
        revision=0,
        created_at=NOW,
    )


async def test_audience_rsvps_attendance_and_cadence(store):
    async with store.unit() as uow:
        marr = await uow.areas.add("Marr", now=NOW)
        garioch = await uow.areas.add("Garioch", now=NOW)
        old = await uow.organisations.add("Old Trust", now=NOW, is_current=False)
        ann, _ = await uow.members.register(
            platform="slack", tenant_id="T", user_id="U1", display_name="Ann", now=NOW
        )
        bob, _ = await uow.members.register(
            platform="slack", tenant_id="T", user_id="U2", display_name="Bob", now=NOW
        )
        dan, _ = await uow.members.register(
            platform="slack", tenant_id="T", user_id="U3", display_name="Dan", now=NOW
        )
        ann.area_id, bob.area_id, dan.organisation_id = marr.id, garioch.id, old.id
        forum = await uow.meetings.add(meeting(marr.id, NOW + timedelta(days=30)))
        ids = (marr.id, garioch.id, old.id, ann.id, bob.id, dan.id, forum.id)

    marr_id, garioch_id, old_id, ann_id, bob_id, dan_id, forum_id = ids
    async with store.unit() as uow:
        forum = await uow.meetings.get(forum_id)
        assert [m.id for m in await uow.meetings.audience(forum)] == [ann_id]
        assert await uow.meetings.invite(forum_id, [old_id], by=ann_id, now=NOW) == 1
        assert await uow.meetings.invite(forum_id, [old_id], by=ann_id, now=NOW) == 0
        await uow.meetings.answer(forum_id, bob_id, "maybe", now=NOW)
        assert [m.id for m in await uow.meetings.audience(forum)] == [ann_id, bob_id, dan_id]
        rsvp, changed = await uow.meetings.answer(forum_id, bob_id, "maybe", now=NOW)
        assert (rsvp.version, changed) == (1, False)
        rsvp, changed = await uow.meetings.answer(forum_id, bob_id, "no", now=NOW)
        assert (rsvp.version, changed) == (2, True)
        assert await uow.meetings.rsvp_counts(forum_id) == {"no": 1}
        assert [m.id for m in await uow.meetings.audience(forum)] == [ann_id, dan_id]

    async with store.unit() as uow:
        bob = await uow.members.get(bob_id)
        assert await uow.meetings.attend(forum_id, bob, by=ann_id, now=NOW)
        assert not await uow.meetings.attend(forum_id, bob, by=ann_id, now=NOW)
        bob.area_id = marr_id  # moving later doesn't move the past meeting's counts
    async with store.unit() as uow:
        (attendee,) = await uow.meetings.attendees(forum_id)
        assert (attendee.name, attendee.area, attendee.marked_by_other) == ("Bob", "Garioch", True)

    async with store.unit() as uow:
        wide = await uow.meetings.add(meeting(None, NOW - timedelta(days=10)))
        await uow.meetings.add(meeting(garioch_id, NOW + timedelta(days=5), status="cancelled"))
        # A partnership-wide meeting counts for every area; a cancelled one for none.
        assert (await uow.meetings.last_held(garioch_id, NOW)).id == wide.id
        assert await uow.meetings.next_scheduled(garioch_id, NOW) is None
        assert (await uow.meetings.next_scheduled(marr_id, NOW)).id == forum_id
        assert [m.id for m in await uow.meetings.upcoming(NOW)] == [forum_id]
        await uow.conversations.remember(
            platform="slack",
            tenant_id="T",
            conversation_id="C1",
            kind="channel",
            name="marr",
            reference=None,
            now=NOW,
        )
        assert await uow.meetings.channels(marr_id) == []
        assert [c.conversation_id for c in await uow.meetings.channels(None)] == ["C1"]
