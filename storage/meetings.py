"""The repository for forum meetings: the meetings, RSVPs, attendance and invited partners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Area,
    Conversation,
    Identity,
    Meeting,
    MeetingAttendance,
    MeetingInvitation,
    MeetingRsvp,
    Member,
    Organisation,
    UnnamedAttendance,
)

SCHEDULED = "scheduled"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Attendee:
    member_id: int
    name: str
    area: str | None
    organisation: str | None
    marked_by_other: bool


@dataclass(frozen=True, slots=True)
class AttendanceHistory:
    meetings: int
    attendances: int
    last: datetime


class MeetingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, meeting: Meeting) -> Meeting:
        self._session.add(meeting)
        await self._session.flush()
        return meeting

    async def get(self, meeting_id: int) -> Meeting | None:
        return await self._session.get(Meeting, meeting_id)

    async def in_series(self, series_id: int) -> list[Meeting]:
        result = await self._session.scalars(
            select(Meeting).where(Meeting.series_id == series_id).order_by(Meeting.starts_at)
        )
        return list(result)

    async def upcoming(self, now: datetime, *, limit: int = 20) -> list[Meeting]:
        """Scheduled meetings that have not ended, soonest first."""
        result = await self._session.scalars(
            select(Meeting)
            .where(Meeting.status == SCHEDULED, Meeting.ends_at > now)
            .order_by(Meeting.starts_at, Meeting.id)
            .limit(limit)
        )
        return list(result)

    async def started_recently(self, now: datetime, *, limit: int) -> list[Meeting]:
        """Scheduled meetings that have started (the one on now too), latest first: those a
        practice record can have been shared at."""
        result = await self._session.scalars(
            select(Meeting)
            .where(Meeting.status == SCHEDULED, Meeting.starts_at <= now)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc())
            .limit(limit)
        )
        return list(result)

    def _for_area(self, area_id: int | None) -> object:
        # A partnership-wide meeting (no area) counts for every area; None asks for those only.
        if area_id is None:
            return Meeting.area_id.is_(None)
        return or_(Meeting.area_id == area_id, Meeting.area_id.is_(None))

    async def last_held(self, area_id: int | None, now: datetime) -> Meeting | None:
        return await self._session.scalar(
            select(Meeting)
            .where(self._for_area(area_id), Meeting.status == SCHEDULED, Meeting.starts_at <= now)
            .order_by(Meeting.starts_at.desc())
            .limit(1)
        )

    async def next_scheduled(self, area_id: int | None, now: datetime) -> Meeting | None:
        return await self._session.scalar(
            select(Meeting)
            .where(self._for_area(area_id), Meeting.status == SCHEDULED, Meeting.starts_at > now)
            .order_by(Meeting.starts_at)
            .limit(1)
        )

    # -- RSVPs ---------------------------------------------------------------------------------

    async def rsvp_of(self, meeting_id: int, member_id: int) -> MeetingRsvp | None:
        return await self._session.get(MeetingRsvp, (meeting_id, member_id))

    async def answer(
        self, meeting_id: int, member_id: int, answer: str, *, now: datetime
    ) -> tuple[MeetingRsvp, bool]:
        """Record a member's answer; the bool is False when it was already their answer."""
        rsvp = await self.rsvp_of(meeting_id, member_id)
        if rsvp is None:
            rsvp = MeetingRsvp(
                meeting_id=meeting_id,
                member_id=member_id,
                answer=answer,
                version=1,
                answered_at=now,
            )
            self._session.add(rsvp)
            await self._session.flush()
            return rsvp, True
        if rsvp.answer == answer:
            return rsvp, False
        rsvp.answer, rsvp.version, rsvp.answered_at = answer, rsvp.version + 1, now
        await self._session.flush()
        return rsvp, True

    async def rsvp_counts(self, meeting_id: int) -> dict[str, int]:
        rows = await self._session.execute(
            select(MeetingRsvp.answer, func.count())
            .where(MeetingRsvp.meeting_id == meeting_id)
            .group_by(MeetingRsvp.answer)
        )
        return {answer: count for answer, count in rows}

    async def rsvps(self, meeting_id: int) -> list[tuple[MeetingRsvp, Member]]:
        rows = await self._session.execute(
            select(MeetingRsvp, Member)
            .join(Member, Member.id == MeetingRsvp.member_id)
            .where(MeetingRsvp.meeting_id == meeting_id)
            .order_by(Member.display_name)
        )
        return [(rsvp, member) for rsvp, member in rows]

    # -- who is asked ----------------------------------------------------------------------------

    async def audience(self, meeting: Meeting) -> list[Member]:
        """Everyone the meeting is for: its area's members (every member for a partnership-wide
        meeting), members of invited organisations, and anyone who answered yes or maybe."""
        invited_orgs = select(MeetingInvitation.organisation_id).where(
            MeetingInvitation.meeting_id == meeting.id
        )
        answered = select(MeetingRsvp.member_id).where(
            MeetingRsvp.meeting_id == meeting.id, MeetingRsvp.answer.in_(("yes", "maybe"))
        )
        conditions = [Member.organisation_id.in_(invited_orgs), Member.id.in_(answered)]
        if meeting.area_id is None:
            conditions.append(Member.id.is_not(None))
        else:
            conditions.append(Member.area_id == meeting.area_id)
        result = await self._session.scalars(
            select(Member).where(or_(*conditions)).order_by(Member.id)
        )
        return list(result)

    async def invite(
        self, meeting_id: int, organisation_ids: list[int], *, by: int | None, now: datetime
    ) -> int:
        """Invite organisations; returns how many were not invited before."""
        already = set(
            await self._session.scalars(
                select(MeetingInvitation.organisation_id).where(
                    MeetingInvitation.meeting_id == meeting_id
                )
            )
        )
        new = [o for o in organisation_ids if o not in already]
        self._session.add_all(
            MeetingInvitation(
                meeting_id=meeting_id, organisation_id=o, invited_by_id=by, invited_at=now
            )
            for o in new
        )
        await self._session.flush()
        return len(new)

    async def invited_organisations(self, meeting_id: int) -> list[Organisation]:
        result = await self._session.scalars(
            select(Organisation)
            .join(MeetingInvitation, MeetingInvitation.organisation_id == Organisation.id)
            .where(MeetingInvitation.meeting_id == meeting_id)
            .order_by(Organisation.is_current.desc(), Organisation.name)
        )
        return list(result)

    async def members_of(self, organisation_ids: list[int]) -> list[Member]:
        result = await self._session.scalars(
            select(Member).where(Member.organisation_id.in_(organisation_ids)).order_by(Member.id)
        )
        return list(result)

    async def reachable(self, member_ids: list[int]) -> set[int]:
        """Those of the members the bot can message privately: a chat on some platform that
        hasn't refused its messages."""
        result = await self._session.scalars(
            select(Identity.member_id)
            .where(Identity.member_id.in_(member_ids), Identity.unreachable_at.is_(None))
            .distinct()
        )
        return set(result)

    # -- attendance ------------------------------------------------------------------------------

    async def attend(self, meeting_id: int, member: Member, *, by: int, now: datetime) -> bool:
        """Record that ``member`` was there; False when they already were."""
        if await self._session.get(MeetingAttendance, (meeting_id, member.id)) is not None:
            return False
        self._session.add(
            MeetingAttendance(
                meeting_id=meeting_id,
                member_id=member.id,
                area_id=member.area_id,
                organisation_id=member.organisation_id,
                marked_by_id=by,
                attended_at=now,
            )
        )
        await self._session.flush()
        return True

    async def attendance_history(self, by: str) -> dict[int, AttendanceHistory]:
        """Per area (``by="area"``) or organisation (``"organisation"``): how many meetings
        someone from it attended, how many attendances in all, and the last meeting's start.
        Attendances of people who have since erased their data count, unnamed."""
        named, unnamed = MeetingAttendance, UnnamedAttendance
        both = union_all(
            select(named.meeting_id, named.area_id, named.organisation_id),
            select(unnamed.meeting_id, unnamed.area_id, unnamed.organisation_id),
        ).subquery()
        column = both.c.area_id if by == "area" else both.c.organisation_id
        rows = await self._session.execute(
            select(
                column,
                func.count(func.distinct(both.c.meeting_id)),
                func.count(),
                func.max(Meeting.starts_at),
            )
            .join(Meeting, Meeting.id == both.c.meeting_id)
            .where(column.is_not(None))
            .group_by(column)
        )
        return {
            key: AttendanceHistory(meetings=meetings, attendances=attendances, last=last)
            for key, meetings, attendances, last in rows
        }

    async def attendees(self, meeting_id: int) -> list[Attendee]:
        rows = await self._session.execute(
            select(MeetingAttendance, Member.display_name, Area.name, Organisation.name)
            .join(Member, Member.id == MeetingAttendance.member_id)
            .outerjoin(Area, Area.id == MeetingAttendance.area_id)
            .outerjoin(Organisation, Organisation.id == MeetingAttendance.organisation_id)
            .where(MeetingAttendance.meeting_id == meeting_id)
            .order_by(Member.display_name)
        )
        return [
            Attendee(
                member_id=attendance.member_id,
                name=name,
                area=area,
                organisation=organisation,
                marked_by_other=attendance.marked_by_id != attendance.member_id,
            )
            for attendance, name, area, organisation in rows
        ]

    async def unnamed_attendees(self, meeting_id: int) -> list[tuple[str | None, str | None]]:
        """(area, organisation) of each attendance whose person has since erased their data."""
        rows = await self._session.execute(
            select(Area.name, Organisation.name)
            .select_from(UnnamedAttendance)
            .outerjoin(Area, Area.id == UnnamedAttendance.area_id)
            .outerjoin(Organisation, Organisation.id == UnnamedAttendance.organisation_id)
            .where(UnnamedAttendance.meeting_id == meeting_id)
        )
        return [(area, organisation) for area, organisation in rows]

    async def channels(self, area_id: int | None) -> list[Conversation]:
        """Where a meeting is announced: its area's channels, or every channel the bot is in
        for a partnership-wide meeting."""
        statement = select(Conversation).where(Conversation.kind != "personal")
        if area_id is not None:
            statement = statement.where(Conversation.area_id == area_id)
        result = await self._session.scalars(statement.order_by(Conversation.id))
        return list(result)
