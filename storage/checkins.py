"""Repositories for check-ins, their answers, exports and action items."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import write_now
from storage.models import (
    ActionItem,
    AnonymousResponse,
    Area,
    Cycle,
    CycleArea,
    Export,
    Member,
    Organisation,
    Participant,
    Response,
    UnnamedParticipant,
)

# Asked twice by every answer a member gives (is it saved already; the next question's answer):
# made once, with bind parameters (building a WHERE clause costs more CPU than running it).
_CYCLE_AND_PARTICIPANT = (
    select(Cycle, Participant)
    .outerjoin(
        Participant,
        and_(Participant.cycle_id == Cycle.id, Participant.member_id == bindparam("member_id")),
    )
    .where(Cycle.id == bindparam("cycle_id"))
)
# The cycle, the member's place in it and their saved answers in it (one row per answer, or one
# row with no answer): what a check-in answer reads before it saves, in one query.
_ANSWERING = (
    select(Cycle, Participant, Response)
    .outerjoin(
        Participant,
        and_(Participant.cycle_id == Cycle.id, Participant.member_id == bindparam("member_id")),
    )
    .outerjoin(
        Response,
        and_(Response.cycle_id == Cycle.id, Response.member_id == bindparam("member_id")),
    )
    .where(Cycle.id == bindparam("cycle_id"))
)
_NAMED_RESPONSE = select(Response).where(
    Response.cycle_id == bindparam("cycle_id"),
    Response.member_id == bindparam("member_id"),
    Response.question == bindparam("question"),
)


@dataclass(frozen=True, slots=True)
class AnswerRow:
    area: str
    question: int
    rating: int | None
    texts: dict[str, Any]
    skipped: bool
    member: str | None
    organisation: str | None


class CheckinRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open_cycle(self) -> Cycle | None:
        return await self._session.scalar(
            select(Cycle).where(Cycle.status == "open").order_by(Cycle.id.desc()).limit(1)
        )

    async def cycle(self, cycle_id: int) -> Cycle | None:
        return await self._session.get(Cycle, cycle_id)

    async def latest_cycle(self) -> Cycle | None:
        return await self._session.scalar(select(Cycle).order_by(Cycle.id.desc()).limit(1))

    async def previous_cycle(self, cycle: Cycle) -> Cycle | None:
        """The last earlier closed cycle of the same framework."""
        return await self._session.scalar(
            select(Cycle)
            .where(
                Cycle.framework_key == cycle.framework_key,
                Cycle.id < cycle.id,
                Cycle.status == "closed",
            )
            .order_by(Cycle.id.desc())
            .limit(1)
        )

    async def due_to_close(self, now: datetime) -> list[Cycle]:
        result = await self._session.scalars(
            select(Cycle).where(Cycle.status == "open", Cycle.closes_at <= now)
        )
        return list(result)

    async def open(self, cycle: Cycle, area_ids: list[int]) -> Cycle:
        self._session.add(cycle)
        await self._session.flush()
        self._session.add_all(CycleArea(cycle_id=cycle.id, area_id=a) for a in area_ids)
        await self._session.flush()
        return cycle

    async def areas_of(self, cycle_id: int) -> list[Area]:
        result = await self._session.scalars(
            select(Area)
            .join(CycleArea, CycleArea.area_id == Area.id)
            .where(CycleArea.cycle_id == cycle_id)
            .order_by(Area.name)
        )
        return list(result)

    async def invite(self, cycle_id: int, members: list[Member], now: datetime) -> None:
        self._session.add_all(
            Participant(
                cycle_id=cycle_id,
                member_id=m.id,
                area_id=m.area_id,
                answered=[],
                status="invited",
                invited_at=now,
            )
            for m in members
        )
        await self._session.flush()

    async def cycle_and_participant(
        self, cycle_id: int, member_id: int
    ) -> tuple[Cycle | None, Participant | None]:
        """A cycle and the member's place in it, in one query (every check-in answer asks)."""
        row = (
            await self._session.execute(
                _CYCLE_AND_PARTICIPANT, {"cycle_id": cycle_id, "member_id": member_id}
            )
        ).first()
        return (None, None) if row is None else (row[0], row[1])

    async def answering(
        self, cycle_id: int, member_id: int
    ) -> tuple[Cycle | None, Participant | None, dict[int, Response]]:
        """``cycle_and_participant`` and the member's saved answers in the cycle, by question,
        in one query (every check-in answer button)."""
        rows = (
            await self._session.execute(_ANSWERING, {"cycle_id": cycle_id, "member_id": member_id})
        ).all()
        if not rows:
            return None, None, {}
        responses = {row[2].question: row[2] for row in rows if row[2] is not None}
        return rows[0][0], rows[0][1], responses

    async def participant(self, cycle_id: int, member_id: int) -> Participant | None:
        return await self._session.get(Participant, (cycle_id, member_id))

    async def participants(self, cycle_id: int) -> list[tuple[Participant, Member]]:
        rows = await self._session.execute(
            select(Participant, Member)
            .join(Member, Member.id == Participant.member_id)
            .where(Participant.cycle_id == cycle_id)
            .order_by(Member.display_name)
        )
        return [(p, m) for p, m in rows]

    async def unnamed_participants(self, cycle_id: int) -> list[UnnamedParticipant]:
        """Participants nobody may name any more (erased, or past the retention period)."""
        result = await self._session.scalars(
            select(UnnamedParticipant).where(UnnamedParticipant.cycle_id == cycle_id)
        )
        return list(result)

    async def named_response(self, cycle_id: int, member_id: int, question: int) -> Response | None:
        return await self._session.scalar(
            _NAMED_RESPONSE, {"cycle_id": cycle_id, "member_id": member_id, "question": question}
        )

    async def save_named(
        self,
        *,
        cycle_id: int,
        member_id: int,
        area_id: int | None,
        question: int,
        rating: int | None,
        texts: dict[str, str],
        skipped: bool,
        now: datetime,
        responses: dict[int, Response] | None = None,
    ) -> bool:
        """Save or change a named answer; False when it was already exactly this.
        ``responses``: the member's answers in the cycle as ``answering`` read them this
        turn, kept up to date here (else the answer is looked up); with them, the change is
        written with the turn's next flush rather than at once (the turn reads it from
        ``responses``, not the database)."""
        if responses is None:
            existing = await self.named_response(cycle_id, member_id, question)
        else:
            existing = responses.get(question)
        if existing is None:
            response = Response(
                cycle_id=cycle_id,
                member_id=member_id,
                area_id=area_id,
                question=question,
                rating=rating,
                texts=texts,
                skipped=skipped,
                created_at=now,
                updated_at=now,
            )
            self._session.add(response)
            if responses is None:
                await self._session.flush()
            else:
                responses[question] = response
            return True
        if (existing.rating, existing.texts, existing.skipped) == (rating, texts, skipped):
            return False
        if await write_now(
            self._session, existing, rating=rating, texts=texts, skipped=skipped, updated_at=now
        ):
            return True
        # Not in the database yet (added in this turn, not flushed): its flush writes it.
        existing.rating, existing.texts, existing.skipped = rating, texts, skipped
        existing.updated_at = now
        if responses is None:
            await self._session.flush()
        return True

    async def save_anonymous(
        self,
        *,
        cycle_id: int,
        area_id: int | None,
        question: int,
        rating: int | None,
        texts: dict[str, str],
        skipped: bool,
        day: date,
    ) -> None:
        self._session.add(
            AnonymousResponse(
                id=uuid.uuid4().hex,
                cycle_id=cycle_id,
                area_id=area_id,
                question=question,
                rating=rating,
                texts=texts,
                skipped=skipped,
                answered_on=day,
            )
        )
        await self._session.flush()

    async def _unnamed_answers(self, cycle_id: int) -> list[AnswerRow]:
        a = AnonymousResponse
        rows = await self._session.execute(
            select(Area.name, a.question, a.rating, a.texts, a.skipped)
            .join(Area, Area.id == a.area_id, isouter=True)
            .where(a.cycle_id == cycle_id)
            .order_by(a.question, Area.name, a.id)
        )
        return [
            AnswerRow(area or "No area", question, rating, texts, skipped, None, None)
            for area, question, rating, texts, skipped in rows
        ]

    async def answers(self, cycle: Cycle) -> list[AnswerRow]:
        """Every answer of a cycle with its area (and, in named cycles, who gave it). A named
        cycle past the retention period has only unnamed ratings left."""
        # Columns, not ORM objects: a report reads thousands of rows and changes none.
        if cycle.anonymous or cycle.answers_expired_at is not None:
            return await self._unnamed_answers(cycle.id)
        r = Response
        rows = await self._session.execute(
            select(
                Area.name,
                r.question,
                r.rating,
                r.texts,
                r.skipped,
                Member.display_name,
                Organisation.name,
            )
            .join(Member, Member.id == r.member_id)
            .join(Area, Area.id == r.area_id, isouter=True)
            .join(Organisation, Organisation.id == Member.organisation_id, isouter=True)
            .where(r.cycle_id == cycle.id)
            .order_by(r.question, Area.name, Member.display_name)
        )
        return [
            AnswerRow(area or "No area", question, rating, texts, skipped, name, org)
            for area, question, rating, texts, skipped, name, org in rows
        ]

    async def answer_count(self, cycle_id: int, anonymous: bool) -> int:
        table = AnonymousResponse if anonymous else Response
        return (
            await self._session.scalar(
                select(func.count()).select_from(table).where(table.cycle_id == cycle_id)
            )
            or 0
        )


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, export: Export) -> None:
        self._session.add(export)
        await self._session.flush()

    async def fetch(self, token: str, now: datetime) -> Export | None:
        export = await self._session.get(Export, token)
        if export is None or export.expires_at <= now:
            return None
        return export

    async def purge(self, now: datetime) -> int:
        result = await self._session.execute(delete(Export).where(Export.expires_at <= now))
        return result.rowcount or 0


class ActionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, item: ActionItem) -> ActionItem:
        self._session.add(item)
        await self._session.flush()
        return item

    async def get(self, item_id: int) -> ActionItem | None:
        return await self._session.get(ActionItem, item_id)

    async def listed(
        self, *, area_id: int | None = None, cycle_id: int | None = None
    ) -> list[ActionItem]:
        query = select(ActionItem).order_by(
            ActionItem.status.desc(), ActionItem.due_on.is_(None), ActionItem.due_on, ActionItem.id
        )
        if area_id is not None:
            query = query.where(ActionItem.area_id == area_id)
        if cycle_id is not None:
            query = query.where(ActionItem.cycle_id == cycle_id)
        return list(await self._session.scalars(query))
