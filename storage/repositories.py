"""Repositories with narrow, domain-named methods, and the unit of work that holds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from storage.audit import AuditRepository
from storage.checkins import ActionRepository, CheckinRepository, ExportRepository
from storage.db import session_factory, upsert_insert, write_now
from storage.meetings import MeetingRepository
from storage.models import (
    Area,
    AreaCoordinator,
    Conversation,
    DialogState,
    Expertise,
    Identity,
    Member,
    Meta,
    Organisation,
    ProcessedEvent,
    Role,
)
from storage.outbox import LockRepository, OutboxRepository
from storage.pacing import PacingRepository
from storage.practice import PracticeRepository
from storage.privacy import PrivacyRepository, RiskRepository
from storage.slack_installs import SlackInstallRepository


def name_key(name: str) -> str:
    """How names are compared: case-insensitive, with runs of white space folded."""
    return " ".join(name.split()).casefold()


# The queries every turn makes, built once: building a statement's WHERE clause costs more CPU
# than SQLAlchemy's compiled-statement cache saves (a fifth of a Slack help turn, profiled).
_BY_PLATFORM_USER = (
    Identity.platform == bindparam("platform"),
    Identity.tenant_id == bindparam("tenant_id"),
    Identity.user_id == bindparam("user_id"),
)
_IDENTITY = select(Identity).where(*_BY_PLATFORM_USER)
# The sender, their member row and the dialog they are in (if any): the one query a turn makes
# to know who is talking and whether a flow waits for their words.
# The sender's roles and the areas they coordinate come with their row, each list folded into
# one comma-separated value (roles are words; area ids numbers): a query a turn less. The
# separator is written into the SQL, in each dialect's own function: SQLAlchemy's
# aggregate_strings makes it a literal parameter, rendered into the statement again with a
# regular expression at every execution.
_AGGREGATE = {"sqlite": func.group_concat, "postgresql": func.string_agg}


def _sender_of(dialect: str, *, base: Any = None, fresh: Any = None) -> Any:
    """The sender, their member row and the dialog they are in (if any), with their roles and
    areas: the one query a turn makes to know who is talking and whether a flow waits for
    their words. With ``base``, outer-joined to it, so that a row comes back for a stranger."""
    comma = literal_column("','")
    roles = (
        select(_AGGREGATE[dialect](Role.role, comma))
        .where(Role.member_id == Member.id)
        .scalar_subquery()
    )
    areas = (
        select(_AGGREGATE[dialect](cast(AreaCoordinator.area_id, String), comma))
        .where(AreaCoordinator.member_id == Member.id)
        .scalar_subquery()
    )
    columns = (Identity, Member, DialogState, roles, areas)
    if base is None:
        return (
            select(*columns)
            .join(Member, Member.id == Identity.member_id)
            .outerjoin(DialogState, DialogState.member_id == Member.id)
            .where(*_BY_PLATFORM_USER)
        )
    return (
        select(fresh, *columns)
        .select_from(base)
        .outerjoin(Identity, and_(*_BY_PLATFORM_USER))
        .outerjoin(Member, Member.id == Identity.member_id)
        .outerjoin(DialogState, DialogState.member_id == Member.id)
    )


_SENDER = {dialect: _sender_of(dialect) for dialect in ("sqlite", "postgresql")}
_CONVERSATION = select(Conversation).where(
    Conversation.platform == bindparam("platform"),
    Conversation.tenant_id == bindparam("tenant_id"),
    Conversation.conversation_id == bindparam("conversation_id"),
)
_ROLES = select(Role.role).where(Role.member_id == bindparam("member_id"))
# A member's roles and the areas they coordinate, in the one query a turn makes for both.
_AREA_POST = "area coordinator"
_STANDING = union_all(
    select(Role.role, null().cast(Integer).label("area_id")).where(
        Role.member_id == bindparam("member_id")
    ),
    select(literal(_AREA_POST).label("role"), AreaCoordinator.area_id).where(
        AreaCoordinator.member_id == bindparam("member_id")
    ),
)


# Every message's id written once (a Core INSERT on the table, made once: the ORM's bulk insert
# and building the statement were most of its cost, and every turn makes one).
_FIRST_TIME = {
    name: dialect.insert(ProcessedEvent.__table__)
    .values(
        platform=bindparam("platform"),
        event_id=bindparam("event_id"),
        received_at=bindparam("received_at"),
    )
    .on_conflict_do_nothing(index_elements=["platform", "event_id"])
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
# On PostgreSQL a turn's first two statements are one: the message's id written in a WITH
# clause, and the sender read in the same statement, one row whatever happens (the count of
# ids written, then the sender or nulls for a stranger). A round trip and an ORM execution a
# turn fewer; SQLite has no INSERT inside a WITH, so there they stay two.
_ARRIVAL = _sender_of(
    "postgresql",
    base=select(literal_column("1").label("one")).subquery("one"),
    fresh=select(func.count())
    .select_from(_FIRST_TIME["postgresql"].returning(literal_column("1")).cte("fresh"))
    .scalar_subquery(),
)


class Sender(NamedTuple):
    identity: Identity
    member: Member
    dialog_state: DialogState | None
    roles: frozenset[str] = frozenset()
    areas: frozenset[int] = frozenset()


def _sender(row: Any) -> Sender:
    roles = frozenset(row[3].split(",")) if row[3] else frozenset()
    areas = frozenset(int(area) for area in row[4].split(",")) if row[4] else frozenset()
    return Sender(row[0], row[1], row[2], roles, areas)


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, member_id: int) -> Member | None:
        return await self._session.get(Member, member_id)

    async def identity(self, platform: str, tenant_id: str, user_id: str) -> Identity | None:
        return await self._session.scalar(
            _IDENTITY, {"platform": platform, "tenant_id": tenant_id, "user_id": user_id}
        )

    async def sender(self, platform: str, tenant_id: str, user_id: str) -> Sender | None:
        """The sender of a message, their member row, their dialog state, roles and the areas
        they coordinate, in one query: every turn asks."""
        row = (
            await self._session.execute(
                _SENDER[self._session.get_bind().dialect.name],
                {"platform": platform, "tenant_id": tenant_id, "user_id": user_id},
            )
        ).first()
        return None if row is None else _sender(row)

    async def arrival(
        self, platform: str, tenant_id: str, user_id: str, *, event_id: str | None, now: datetime
    ) -> tuple[bool, Sender | None]:
        """A message's id recorded (``InboundEventRepository.first_time``) and its sender read
        (``sender``): False and None when the id was seen before (a platform retry), else True
        and the sender, None for a stranger. One statement on PostgreSQL."""
        if event_id is None:
            return True, await self.sender(platform, tenant_id, user_id)
        if self._session.get_bind().dialect.name != "postgresql":
            if not await InboundEventRepository(self._session).first_time(
                platform, event_id, now=now
            ):
                return False, None
            return True, await self.sender(platform, tenant_id, user_id)
        row = (
            await self._session.execute(
                _ARRIVAL,
                {
                    "platform": platform,
                    "tenant_id": tenant_id,
                    "user_id": user_id,
                    "event_id": event_id,
                    "received_at": now,
                },
            )
        ).one()
        if not row[0]:
            return False, None
        return True, None if row[1] is None else _sender(row[1:])

    async def identities_of(self, member_id: int) -> list[Identity]:
        result = await self._session.scalars(
            select(Identity).where(Identity.member_id == member_id).order_by(Identity.id)
        )
        return list(result)

    async def register(
        self, *, platform: str, tenant_id: str, user_id: str, display_name: str, now: datetime
    ) -> tuple[Member, Identity]:
        """A new member with their first platform identity."""
        member = Member(display_name=display_name or user_id, created_at=now)
        self._session.add(member)
        await self._session.flush()
        identity = Identity(
            member_id=member.id,
            platform=platform,
            tenant_id=tenant_id,
            user_id=user_id,
            display_name=display_name,
            created_at=now,
            last_seen_at=now,
        )
        self._session.add(identity)
        await self._session.flush()
        return member, identity

    async def by_name(self, name: str) -> list[Member]:
        result = await self._session.scalars(
            select(Member).where(func.lower(Member.display_name) == name.casefold())
        )
        return list(result)

    async def in_area(self, area_id: int) -> list[Member]:
        result = await self._session.scalars(
            select(Member).where(Member.area_id == area_id).order_by(Member.display_name)
        )
        return list(result)

    async def count(self) -> int:
        return await self._session.scalar(select(func.count()).select_from(Member)) or 0

    async def roles_of(self, member_id: int) -> frozenset[str]:
        return frozenset(await self._session.scalars(_ROLES, {"member_id": member_id}))

    async def standing_of(self, member_id: int) -> tuple[frozenset[str], frozenset[int]]:
        """The member's roles, and the ids of the areas they coordinate."""
        roles: set[str] = set()
        areas: set[int] = set()
        for role, area_id in await self._session.execute(_STANDING, {"member_id": member_id}):
            if role == _AREA_POST:
                areas.add(area_id)
            else:
                roles.add(role)
        return frozenset(roles), frozenset(areas)

    async def appoint_area_coordinator(
        self, member_id: int, area_id: int, *, now: datetime
    ) -> bool:
        """Make the member a coordinator of one area; False when they already were."""
        if await self._session.get(AreaCoordinator, (member_id, area_id)) is not None:
            return False
        self._session.add(AreaCoordinator(member_id=member_id, area_id=area_id, granted_at=now))
        await self._session.flush()
        return True

    async def stand_down_area_coordinator(self, member_id: int, area_id: int | None = None) -> int:
        """The member no longer coordinates ``area_id`` (None: any area). How many posts went."""
        statement = delete(AreaCoordinator).where(AreaCoordinator.member_id == member_id)
        if area_id is not None:
            statement = statement.where(AreaCoordinator.area_id == area_id)
        result = await self._session.execute(statement)
        return int(result.rowcount or 0)

    async def area_coordinators(self) -> dict[int, list[Member]]:
        """Each area's own coordinators, by area id, in name order."""
        rows = await self._session.execute(
            select(AreaCoordinator.area_id, Member)
            .join(Member, Member.id == AreaCoordinator.member_id)
            .order_by(Member.display_name)
        )
        found: dict[int, list[Member]] = {}
        for area_id, member in rows:
            found.setdefault(area_id, []).append(member)
        return found

    async def grant(self, member_id: int, role: str, *, now: datetime) -> bool:
        """Give a role; False when the member already had it."""
        if await self._session.get(Role, (member_id, role)) is not None:
            return False
        self._session.add(Role(member_id=member_id, role=role, granted_at=now))
        await self._session.flush()
        return True

    async def revoke(self, member_id: int, role: str) -> bool:
        result = await self._session.execute(
            delete(Role).where(Role.member_id == member_id, Role.role == role)
        )
        return bool(result.rowcount)

    async def with_role(self, role: str) -> list[Member]:
        result = await self._session.scalars(
            select(Member)
            .join(Role, Role.member_id == Member.id)
            .where(Role.role == role)
            .order_by(Member.display_name)
        )
        return list(result)

    async def unreachable(self) -> list[tuple[Member, Identity]]:
        """Members the bot can no longer write to: every identity of theirs refused its messages
        (each one is listed, with the platform's reason). A member still reachable on another
        platform is not cut off - the delivery engine writes to them there."""
        other = aliased(Identity)
        still_reachable = (
            select(other.id)
            .where(
                other.member_id == Member.id,
                other.unreachable_at.is_(None),
                other.platform != "console",  # the console cannot be written to unasked
            )
            .exists()
        )
        rows = await self._session.execute(
            select(Member, Identity)
            .join(Identity, Identity.member_id == Member.id)
            .where(Identity.unreachable_at.is_not(None), ~still_reachable)
            .order_by(Member.display_name, Identity.id)
        )
        return [(member, identity) for member, identity in rows]


class AreaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[Area]:
        return list(await self._session.scalars(select(Area).order_by(Area.name)))

    async def by_name(self, name: str) -> Area | None:
        return await self._session.scalar(select(Area).where(Area.key == name_key(name)))

    async def get(self, area_id: int) -> Area | None:
        return await self._session.get(Area, area_id)

    async def add(self, name: str, *, now: datetime, timezone: str | None = None) -> Area:
        area = Area(
            name=" ".join(name.split()), key=name_key(name), timezone=timezone, created_at=now
        )
        self._session.add(area)
        await self._session.flush()
        return area

    async def member_counts(self) -> dict[int, int]:
        rows = await self._session.execute(
            select(Member.area_id, func.count())
            .where(Member.area_id.is_not(None))
            .group_by(Member.area_id)
        )
        return {area_id: count for area_id, count in rows}


class OrganisationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[Organisation]:
        result = await self._session.scalars(
            select(Organisation).order_by(Organisation.is_current.desc(), Organisation.name)
        )
        return list(result)

    async def by_name(self, name: str) -> Organisation | None:
        return await self._session.scalar(
            select(Organisation).where(Organisation.key == name_key(name))
        )

    async def get(self, organisation_id: int) -> Organisation | None:
        return await self._session.get(Organisation, organisation_id)

    async def add(self, name: str, *, now: datetime, is_current: bool = True) -> Organisation:
        organisation = Organisation(
            name=" ".join(name.split()),
            key=name_key(name),
            is_current=is_current,
            created_at=now,
        )
        self._session.add(organisation)
        await self._session.flush()
        return organisation

    async def member_counts(self) -> dict[int, int]:
        rows = await self._session.execute(
            select(Member.organisation_id, func.count())
            .where(Member.organisation_id.is_not(None))
            .group_by(Member.organisation_id)
        )
        return {organisation_id: count for organisation_id, count in rows}


class ExpertiseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, member_id: int, topic: str, *, now: datetime) -> bool:
        """Record a member's topic; False when they already had it."""
        key = name_key(topic)
        exists = await self._session.scalar(
            select(Expertise.id).where(Expertise.member_id == member_id, Expertise.topic_key == key)
        )
        if exists is not None:
            return False
        self._session.add(
            Expertise(
                member_id=member_id, topic=" ".join(topic.split()), topic_key=key, created_at=now
            )
        )
        await self._session.flush()
        return True

    async def all_with_members(self) -> list[tuple[Expertise, Member]]:
        rows = await self._session.execute(
            select(Expertise, Member)
            .join(Member, Member.id == Expertise.member_id)
            .order_by(Expertise.topic_key, Member.display_name)
        )
        return [(expertise, member) for expertise, member in rows]

    async def of_member(self, member_id: int) -> list[str]:
        result = await self._session.scalars(
            select(Expertise.topic)
            .where(Expertise.member_id == member_id)
            .order_by(Expertise.topic_key)
        )
        return list(result)


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(
        self, platform: str, tenant_id: str, conversation_id: str
    ) -> Conversation | None:
        return await self._session.scalar(
            _CONVERSATION,
            {"platform": platform, "tenant_id": tenant_id, "conversation_id": conversation_id},
        )

    async def remember(
        self,
        *,
        platform: str,
        tenant_id: str,
        conversation_id: str,
        kind: str,
        name: str,
        reference: dict[str, Any] | None,
        now: datetime,
    ) -> Conversation:
        """Record (or refresh) a conversation the bot is in."""
        conversation = await self.find(platform, tenant_id, conversation_id)
        if conversation is None:
            conversation = Conversation(
                platform=platform,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                kind=kind,
                name=name,
                conversation_reference=reference,
                created_at=now,
                updated_at=now,
            )
            self._session.add(conversation)
        else:
            if name:
                conversation.name = name
            if reference is not None:
                conversation.conversation_reference = reference
            conversation.updated_at = now
        await self._session.flush()
        return conversation

    async def unreachable(self) -> list[Conversation]:
        result = await self._session.scalars(
            select(Conversation)
            .where(Conversation.unreachable_at.is_not(None))
            .order_by(Conversation.name)
        )
        return list(result)

    async def of_area(self, area_id: int) -> list[Conversation]:
        result = await self._session.scalars(
            select(Conversation).where(Conversation.area_id == area_id).order_by(Conversation.id)
        )
        return list(result)


class DialogStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_member(self, member_id: int) -> DialogState | None:
        return await self._session.get(DialogState, member_id)

    async def save(
        self, member_id: int, *, flow: str, step: str, data: dict[str, Any], now: datetime
    ) -> None:
        state = await self._session.get(DialogState, member_id)
        if state is not None:
            if await write_now(
                self._session, state, flow=flow, step=step, data=data, updated_at=now
            ):
                return
            self._session.expunge(state)  # its row was deleted by a statement in this turn
        # A new row, written with the turn's next flush (its next query, or its commit) with the
        # rest of what the turn changed: a flush of its own was a tenth of an answer's CPU.
        self._session.add(
            DialogState(member_id=member_id, flow=flow, step=step, data=data, updated_at=now)
        )

    async def clear(self, member_id: int) -> None:
        await self._session.execute(delete(DialogState).where(DialogState.member_id == member_id))


class InboundEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def first_time(self, platform: str, event_id: str, *, now: datetime) -> bool:
        """Record an inbound event id; False when it was seen before (a platform retry)."""
        dialect = self._session.get_bind().dialect.name
        result = await self._session.execute(
            _FIRST_TIME[dialect], {"platform": platform, "event_id": event_id, "received_at": now}
        )
        return result.rowcount == 1

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self._session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff)
        )
        return result.rowcount or 0


class MetaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: str) -> str | None:
        row = await self._session.get(Meta, key)
        return None if row is None else row.value

    async def put(self, key: str, value: str) -> None:
        """Set ``key``, replacing what was there."""
        statement = (
            upsert_insert(self._session, Meta)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
        await self._session.execute(statement)

    async def claim(self, key: str, value: str) -> bool:
        """Set ``key`` only if nobody has; True for the one caller that did."""
        statement = (
            upsert_insert(self._session, Meta)
            .values(key=key, value=value)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        result = await self._session.execute(statement)
        return result.rowcount == 1


class Conflict(Exception):
    """Two transactions wrote the same unique thing at once (e.g. a platform sending an install
    and a join for the same person together). Retrying the whole unit settles it."""


class UnitOfWork:
    """One transaction and the repositories that work inside it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.members = MemberRepository(session)
        self.areas = AreaRepository(session)
        self.organisations = OrganisationRepository(session)
        self.expertise = ExpertiseRepository(session)
        self.conversations = ConversationRepository(session)
        self.dialog_states = DialogStateRepository(session)
        self.inbound_events = InboundEventRepository(session)
        self.meta = MetaRepository(session)
        self.outbox = OutboxRepository(session)
        self.locks = LockRepository(session)
        self.pacing = PacingRepository(session)
        self.checkins = CheckinRepository(session)
        self.exports = ExportRepository(session)
        self.actions = ActionRepository(session)
        self.meetings = MeetingRepository(session)
        self.practice = PracticeRepository(session)
        self.audit = AuditRepository(session)
        self.slack_installs = SlackInstallRepository(session)
        self.privacy = PrivacyRepository(session)
        self.risks = RiskRepository(session)


class Store:
    """The database as the rest of the code sees it: ``async with store.unit() as uow``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        """Commits when the block ends, rolls back if it raises: nothing is half-saved."""
        try:
            async with self._sessions() as session, session.begin():
                yield UnitOfWork(session)
        except IntegrityError as error:
            raise Conflict(str(error.orig)[:200]) from error

    async def close(self) -> None:
        await self.engine.dispose()
