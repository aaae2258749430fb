"""Data protection: everything held about one member, erasing it, the retention period, and the
risks members report.

What an erasure keeps, and why, is decided here in one place (the privacy notice in
dialogs/privacy/views.py says the same in plain words):

- Deleted: identities (platform ids, names, the addresses of private chats), the profile, roles,
  expertise, named check-in answers and participation in named cycles, meeting RSVPs, dialog
  state, downloads, draft practice records, and every message addressed to them, sent or not.
- Kept as counts, with nobody named: participation in anonymous cycles (their anonymous answers
  stay, and were never linked to them, so the response counts beside those answers must stay as
  reported) and meeting attendance ("18 partners attended" is an aggregate coordinators have
  reported and compare cadence against; area and organisation are kept, as those counts are by
  area and organisation, the person is not).
- Kept without them: published practice records (the partnership's shared library; the author
  is removed), action items (unassigned), risks (the reporter is removed), the audit trail
  (events about them name them by member number only; what they did as a coordinator keeps the
  name it was done under, because the partnership must be able to account for it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ActionItem,
    AnonymousResponse,
    Area,
    AreaCoordinator,
    AuditEvent,
    Cycle,
    DialogState,
    Expertise,
    Export,
    Identity,
    Meeting,
    MeetingAttendance,
    MeetingInvitation,
    MeetingRsvp,
    Member,
    Organisation,
    OutboxMessage,
    Participant,
    PracticeRecord,
    PracticeTag,
    PracticeTagName,
    Response,
    Risk,
    Role,
    SlackInstallation,
    UnnamedAttendance,
    UnnamedParticipant,
)
from storage.outbox import Status
from storage.practice import DRAFT

# What a sent message's stored content becomes once it may no longer be kept.
ERASED_INSTALLER = "erased"
FORGOTTEN_VIEW: dict[str, Any] = {"summary": "(removed: no longer kept)", "blocks": []}
# The key, in an audit event's detail, of the member an event was about before they were erased.
ERASED_MEMBER = "erased member"
_FINISHED = (Status.SENT, Status.SKIPPED, Status.FAILED, Status.CANCELLED)


def _random_id() -> str:
    return uuid.uuid4().hex


def _unnamed(participant: Participant) -> UnnamedParticipant:
    """A participant as a count: their area, how far they got, and nothing of who."""
    return UnnamedParticipant(
        id=_random_id(),
        cycle_id=participant.cycle_id,
        area_id=participant.area_id,
        status=participant.status,
        answered=len(participant.answered or ()),
    )


@dataclass(frozen=True, slots=True)
class Message:
    """A message addressed to the member: what kind, and what became of it (not its content,
    which the member was sent)."""

    kind: str
    status: str
    due_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Download:
    filename: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Held:
    """Every row that is about one member, for their copy of their data."""

    member: Member
    identities: list[Identity]
    roles: list[Role]
    # The areas they coordinate, by name, with when.
    area_posts: list[tuple[str, datetime]]
    expertise: list[Expertise]
    participations: list[tuple[Participant, Cycle]]
    answers: list[tuple[Response, Cycle]]
    rsvps: list[tuple[MeetingRsvp, Meeting]]
    attendance: list[tuple[MeetingAttendance, Meeting]]
    practice: list[PracticeRecord]
    tags: dict[int, list[str]]
    actions: list[ActionItem]
    risks: list[Risk]
    audit: list[AuditEvent]
    dialog_state: DialogState | None
    messages: list[Message]
    downloads: list[Download]
    areas: dict[int, str] = field(default_factory=dict)
    organisations: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Expiry:
    cycles: int
    answers: int
    messages: int


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _all(self, statement: Any) -> list[Any]:
        return list(await self._session.scalars(statement))

    async def _pairs(self, statement: Any) -> list[Any]:
        return [tuple(row) for row in await self._session.execute(statement)]

    async def _with(
        self, model: Any, parent: Any, link: Any, where: Any, *order: Any
    ) -> list[tuple[Any, Any]]:
        """Rows of ``model`` matching ``where``, each with the ``parent`` row ``link`` names."""
        return await self._pairs(
            select(model, parent).join(parent, parent.id == link).where(where).order_by(*order)
        )

    async def _names(self, model: type[Area] | type[Organisation]) -> dict[int, str]:
        rows = await self._session.execute(select(model.id, model.name))
        return {row_id: name for row_id, name in rows}

    def _about(self, member_id: int) -> Any:
        """Audit events about a member: those that name them in their detail."""
        return AuditEvent.detail["member"].as_integer() == member_id

    async def held_about(self, member: Member) -> Held:
        m = member.id
        records = await self._all(
            select(PracticeRecord).where(PracticeRecord.author_id == m).order_by(PracticeRecord.id)
        )
        tags: dict[int, list[str]] = {record.id: [] for record in records}
        if records:
            for record_id, tag in await self._session.execute(
                select(PracticeTag.record_id, PracticeTag.tag)
                .where(PracticeTag.record_id.in_(tags))
                .order_by(PracticeTag.tag)
            ):
                tags[record_id].append(tag)
        messages = [
            Message(kind, status, due_at, sent_at)
            for kind, status, due_at, sent_at in await self._session.execute(
                select(
                    OutboxMessage.kind,
                    OutboxMessage.status,
                    OutboxMessage.due_at,
                    OutboxMessage.sent_at,
                )
                .where(OutboxMessage.member_id == m)
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
            )
        ]
        # Columns only: the files themselves can be large, and the member has the links.
        downloads = [
            Download(*row)
            for row in await self._session.execute(
                select(Export.filename, Export.created_at, Export.expires_at)
                .where(Export.member_id == m)
                .order_by(Export.created_at)
            )
        ]
        return Held(
            member=member,
            identities=await self._all(
                select(Identity).where(Identity.member_id == m).order_by(Identity.id)
            ),
            roles=await self._all(select(Role).where(Role.member_id == m).order_by(Role.role)),
            area_posts=[
                (name, granted_at)
                for name, granted_at in await self._session.execute(
                    select(Area.name, AreaCoordinator.granted_at)
                    .join(Area, Area.id == AreaCoordinator.area_id)
                    .where(AreaCoordinator.member_id == m)
                    .order_by(Area.name)
                )
            ],
            expertise=await self._all(
                select(Expertise).where(Expertise.member_id == m).order_by(Expertise.topic_key)
            ),
            participations=await self._with(
                Participant, Cycle, Participant.cycle_id, Participant.member_id == m, Cycle.id
            ),
            answers=await self._with(
                Response,
                Cycle,
                Response.cycle_id,
                Response.member_id == m,
                Cycle.id,
                Response.question,
            ),
            rsvps=await self._with(
                MeetingRsvp,
                Meeting,
                MeetingRsvp.meeting_id,
                MeetingRsvp.member_id == m,
                Meeting.starts_at,
            ),
            attendance=await self._with(
                MeetingAttendance,
                Meeting,
                MeetingAttendance.meeting_id,
                MeetingAttendance.member_id == m,
                Meeting.starts_at,
            ),
            practice=records,
            tags=tags,
            actions=await self._all(
                select(ActionItem)
                .where(or_(ActionItem.owner_id == m, ActionItem.created_by_id == m))
                .order_by(ActionItem.id)
            ),
            risks=await self._all(select(Risk).where(Risk.reporter_id == m).order_by(Risk.id)),
            audit=await self._all(
                select(AuditEvent)
                .where(or_(AuditEvent.actor_id == m, self._about(m)))
                .order_by(AuditEvent.at, AuditEvent.id)
            ),
            dialog_state=await self._session.get(DialogState, m),
            messages=messages,
            downloads=downloads,
            areas=await self._names(Area),
            organisations=await self._names(Organisation),
        )

    # -- erasure ---------------------------------------------------------------------------------

    async def _count_and(self, statement: Any) -> int:
        result = await self._session.execute(statement)
        return result.rowcount or 0

    async def erase(self, member: Member, *, names: set[str]) -> dict[str, int]:
        """Erase ``member`` and their personal rows (see the module's docstring for what stays,
        and why). ``names`` are the names they were known by, to take them out of the audit
        trail and of practice records saved from their messages. Returns counts, for the audit
        trail: how many rows of each kind, never what they held."""
        m = member.id
        session = self._session
        # Whatever this turn changed (last seen, the private chat) goes first, so that nothing
        # is written back to a row this deletes.
        await session.flush()
        counts: dict[str, int] = {}

        participations = await self._pairs(
            select(Participant, Cycle.anonymous)
            .join(Cycle, Cycle.id == Participant.cycle_id)
            .where(Participant.member_id == m)
        )
        session.add_all(
            _unnamed(participant) for participant, anonymous in participations if anonymous
        )
        counts["check-in participations"] = len(participations)
        await session.execute(delete(Participant).where(Participant.member_id == m))

        answered_cycles = set(
            await self._all(select(Response.cycle_id).where(Response.member_id == m).distinct())
        )
        counts["named answers"] = await self._count_and(
            delete(Response).where(Response.member_id == m)
        )

        attended = await self._all(
            select(MeetingAttendance).where(MeetingAttendance.member_id == m)
        )
        session.add_all(
            UnnamedAttendance(
                id=_random_id(),
                meeting_id=row.meeting_id,
                area_id=row.area_id,
                organisation_id=row.organisation_id,
            )
            for row in attended
        )
        counts["attendances"] = len(attended)
        await session.execute(delete(MeetingAttendance).where(MeetingAttendance.member_id == m))
        counts["RSVPs"] = await self._count_and(
            delete(MeetingRsvp).where(MeetingRsvp.member_id == m)
        )

        # Their risks' alerts and the reports that showed their named answers were sent to
        # others; the copies of those views kept in the outbox go. A pending one still goes out.
        risk_ids = await self._all(select(Risk.id).where(Risk.reporter_id == m))
        prefixes = [f"risk:{risk_id}:" for risk_id in risk_ids] + [
            f"{what}:{cycle_id}:"
            for cycle_id in answered_cycles
            for what in ("report", "priorities")
        ]
        for prefix in prefixes:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.key.startswith(prefix, autoescape=True),
                    OutboxMessage.status.in_(_FINISHED),
                )
                .values(view=FORGOTTEN_VIEW)
            )
        counts["messages to them"] = await self._count_and(
            delete(OutboxMessage).where(OutboxMessage.member_id == m)
        )

        drafts = await self._all(
            select(PracticeRecord.id).where(
                PracticeRecord.author_id == m, PracticeRecord.status == DRAFT
            )
        )
        if drafts:
            await session.execute(delete(PracticeTag).where(PracticeTag.record_id.in_(drafts)))
            await session.execute(delete(PracticeRecord).where(PracticeRecord.id.in_(drafts)))
        counts["draft practice records"] = len(drafts)
        counts["practice records kept without author"] = await self._count_and(
            update(PracticeRecord).where(PracticeRecord.author_id == m).values(author_id=None)
        )
        if names:
            await session.execute(
                update(PracticeRecord)
                .where(PracticeRecord.source_author.in_(names))
                .values(source_author=None)
            )

        counts["actions unassigned"] = await self._count_and(
            update(ActionItem).where(ActionItem.owner_id == m).values(owner_id=None)
        )
        await session.execute(
            update(ActionItem).where(ActionItem.created_by_id == m).values(created_by_id=None)
        )
        counts["risks kept without reporter"] = await self._count_and(
            update(Risk).where(Risk.reporter_id == m).values(reporter_id=None)
        )
        # What else points at them only says who did something; the foreign keys would clear
        # these too, but saying so here keeps erasure one readable list.
        for model, column in (
            (Cycle, Cycle.opened_by_id),
            (Meeting, Meeting.created_by_id),
            (MeetingAttendance, MeetingAttendance.marked_by_id),
            (MeetingInvitation, MeetingInvitation.invited_by_id),
            (PracticeTagName, PracticeTagName.added_by_id),
            (AuditEvent, AuditEvent.actor_id),
        ):
            await session.execute(update(model).where(column == m).values({column.key: None}))
        for event in await self._all(select(AuditEvent).where(self._about(m))):
            subject = event.subject
            for name in sorted(names, key=len, reverse=True):
                subject = subject.replace(name, f"member {m}")
            event.subject = subject if subject != event.subject else f"about member {m}"
            # No longer "about" a member: SQLite may give a newcomer the same id, and their copy
            # of their data must not take in this history.
            event.detail = {
                **{k: v for k, v in event.detail.items() if k != "member"},
                ERASED_MEMBER: m,
            }

        # An installer of the Slack app is named on its installation row; the row (the
        # workspace's bot token) stays, without them and without any user token they granted.
        for platform, tenant_id, user_id in await self._pairs(
            select(Identity.platform, Identity.tenant_id, Identity.user_id).where(
                Identity.member_id == m
            )
        ):
            if platform == "slack":
                counts["Slack installations without installer"] = counts.get(
                    "Slack installations without installer", 0
                ) + await self._count_and(
                    update(SlackInstallation)
                    .where(
                        SlackInstallation.team_id == tenant_id,
                        SlackInstallation.user_id == user_id,
                    )
                    .values(
                        user_id=ERASED_INSTALLER,
                        user_token=None,
                        user_scopes=None,
                        user_refresh_token=None,
                        user_token_expires_at=None,
                    )
                )
        for model, column in (
            (Identity, Identity.member_id),
            (Role, Role.member_id),
            (AreaCoordinator, AreaCoordinator.member_id),
            (Expertise, Expertise.member_id),
            (DialogState, DialogState.member_id),
            (Export, Export.member_id),
        ):
            counts[model.__tablename__] = await self._count_and(delete(model).where(column == m))
        await session.delete(member)
        await session.flush()
        return counts

    # -- retention -------------------------------------------------------------------------------

    async def expire_answers(self, *, before: datetime, now: datetime) -> Expiry:
        """The retention period: in cycles closed before ``before``, what was written and who
        took part go, and the ratings stay, unnamed (as anonymous answers are). The content of
        finished messages queued before ``before`` goes too (a report sent in chat, a question
        card showing an earlier answer)."""
        session = self._session
        cycles = await self._all(
            select(Cycle).where(
                Cycle.status == "closed",
                Cycle.closed_at < before,
                Cycle.answers_expired_at.is_(None),
            )
        )
        answers = 0
        for cycle in cycles:
            # The anonymous answers first: the named ones are about to join them, already bare.
            answers += await self._count_and(
                update(AnonymousResponse)
                .where(AnonymousResponse.cycle_id == cycle.id)
                .values(texts={})
            )
            named = await self._all(select(Response).where(Response.cycle_id == cycle.id))
            session.add_all(
                AnonymousResponse(
                    id=_random_id(),
                    cycle_id=cycle.id,
                    area_id=row.area_id,
                    question=row.question,
                    rating=row.rating,
                    texts={},
                    skipped=row.skipped,
                    answered_on=row.updated_at.date(),
                )
                for row in named
            )
            await session.execute(delete(Response).where(Response.cycle_id == cycle.id))
            answers += len(named)
            participants = await self._all(
                select(Participant).where(Participant.cycle_id == cycle.id)
            )
            session.add_all(_unnamed(participant) for participant in participants)
            await session.execute(delete(Participant).where(Participant.cycle_id == cycle.id))
            cycle.answers_expired_at = now
        messages = await self._count_and(
            update(OutboxMessage)
            .where(
                OutboxMessage.status.in_(_FINISHED),
                OutboxMessage.created_at < before,
                # The summary, not the whole view: PostgreSQL's json has no equality.
                OutboxMessage.view["summary"].as_string() != FORGOTTEN_VIEW["summary"],
            )
            .values(view=FORGOTTEN_VIEW)
        )
        await session.flush()
        return Expiry(cycles=len(cycles), answers=answers, messages=messages)


class RiskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, *, text: str, reporter: Member, now: datetime) -> Risk:
        risk = Risk(text=text, reporter_id=reporter.id, area_id=reporter.area_id, created_at=now)
        self._session.add(risk)
        await self._session.flush()
        return risk

    async def get(self, risk_id: int) -> Risk | None:
        return await self._session.get(Risk, risk_id)
