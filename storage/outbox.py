"""The outbox: messages the bot sends on its own, claimed by dispatchers with a lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import upsert_insert
from storage.models import Conversation, Identity, Lock, OutboxMessage


class Status:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed row, detached from the session: what a dispatcher needs to send it."""

    id: int
    key: str
    kind: str
    member_id: int | None
    conversation_id: int | None
    view: dict[str, Any]
    attempts: int
    not_after: datetime | None


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def _is_postgres(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    async def enqueue(
        self,
        *,
        key: str,
        kind: str,
        view: dict[str, Any],
        due_at: datetime,
        not_after: datetime | None,
        member_id: int | None = None,
        conversation_id: int | None = None,
        now: datetime,
    ) -> bool:
        """Queue a message once: False when ``key`` was queued before."""
        if (member_id is None) == (conversation_id is None):
            raise ValueError("a message goes to a member or to a conversation")
        statement = (
            upsert_insert(self._session, OutboxMessage)
            .values(
                key=key,
                kind=kind,
                view=view,
                due_at=due_at,
                not_after=not_after,
                member_id=member_id,
                conversation_id=conversation_id,
                status=Status.PENDING,
                attempts=0,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        result = await self._session.execute(statement)
        return result.rowcount == 1

    async def by_key(self, key: str) -> OutboxMessage | None:
        return await self._session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))

    async def cancel(self, keys_like: str) -> int:
        """Cancel pending messages whose key starts with ``keys_like``."""
        result = await self._session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.key.startswith(keys_like, autoescape=True),
                OutboxMessage.status == Status.PENDING,
            )
            .values(status=Status.CANCELLED)
        )
        return result.rowcount or 0

    async def skip_overdue(self, now: datetime) -> int:
        """Messages past their ``not_after`` are skipped with the reason, not sent."""
        result = await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == Status.PENDING, OutboxMessage.not_after < now)
            .values(
                status=Status.SKIPPED,
                last_error="too late: it fell due while the bot was down or could not "
                "send, and is no longer useful",
            )
        )
        return result.rowcount or 0

    def _due(self, now: datetime) -> Any:
        ready = func.coalesce(OutboxMessage.next_attempt_at, OutboxMessage.due_at) <= now
        return or_(
            and_(OutboxMessage.status == Status.PENDING, ready),
            # A dispatcher that died mid-batch: its lease ran out, the rows are fair game.
            and_(OutboxMessage.status == Status.SENDING, OutboxMessage.lease_until < now),
        )

    async def claim_due(
        self, *, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Claimed]:
        """Take up to ``limit`` due messages for ``owner`` until ``now + lease``. On PostgreSQL
        concurrent claimers skip each other's rows (FOR UPDATE SKIP LOCKED)."""
        candidates = (
            select(OutboxMessage.id)
            .where(self._due(now))
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
        )
        if self._is_postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        result = await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates.scalar_subquery()))
            .values(status=Status.SENDING, lease_owner=owner, lease_until=now + lease)
            .returning(
                OutboxMessage.id,
                OutboxMessage.key,
                OutboxMessage.kind,
                OutboxMessage.member_id,
                OutboxMessage.conversation_id,
                OutboxMessage.view,
                OutboxMessage.attempts,
                OutboxMessage.not_after,
                OutboxMessage.due_at,
            )
            .execution_options(synchronize_session=False)
        )
        rows = sorted(result.all(), key=lambda row: (row.due_at, row.id))
        return [
            Claimed(
                r.id, r.key, r.kind, r.member_id, r.conversation_id, r.view, r.attempts, r.not_after
            )
            for r in rows
        ]

    async def renew_lease(self, *, owner: str, until: datetime) -> int:
        result = await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.lease_owner == owner, OutboxMessage.status == Status.SENDING)
            .values(lease_until=until)
        )
        return result.rowcount or 0

    async def release(self, owner: str) -> int:
        """Give back everything ``owner`` holds but has not sent (graceful shutdown)."""
        result = await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.lease_owner == owner, OutboxMessage.status == Status.SENDING)
            .values(status=Status.PENDING, lease_owner=None, lease_until=None)
        )
        return result.rowcount or 0

    async def _finish(self, message_id: int, owner: str, **values: Any) -> bool:
        # Only the lease holder may finish a row: a dispatcher whose lease ran out and was
        # taken over must not overwrite the new holder's outcome.
        result = await self._session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.lease_owner == owner,
                OutboxMessage.status == Status.SENDING,
            )
            .values(lease_owner=None, lease_until=None, **values)
        )
        return result.rowcount == 1

    async def mark_sent(
        self,
        message_id: int,
        *,
        owner: str,
        now: datetime,
        platform_message_id: str | None,
        attempts: int,
    ) -> bool:
        return await self._finish(
            message_id,
            owner,
            status=Status.SENT,
            sent_at=now,
            platform_message_id=platform_message_id,
            attempts=attempts,
            last_error=None,
        )

    async def mark_retry(
        self, message_id: int, *, owner: str, at: datetime, error: str, attempts: int
    ) -> bool:
        return await self._finish(
            message_id,
            owner,
            status=Status.PENDING,
            next_attempt_at=at,
            last_error=error[:500],
            attempts=attempts,
        )

    async def defer(self, plan: list[tuple[int, datetime]], *, owner: str) -> None:
        """Give back claimed rows unsent, each due again at its time (its target was not ready):
        no attempt counted, no error recorded. ``plan``: (row id, when) pairs."""
        if not plan:
            return
        table = OutboxMessage.__table__
        await self._session.execute(
            update(table)
            .where(
                table.c.id == bindparam("row_id"),
                table.c.lease_owner == owner,
                table.c.status == Status.SENDING,
            )
            .values(
                status=Status.PENDING,
                next_attempt_at=bindparam("at"),
                lease_owner=None,
                lease_until=None,
            ),
            [{"row_id": row_id, "at": at} for row_id, at in plan],
        )

    async def mark_failed(self, message_id: int, *, owner: str, error: str, attempts: int) -> bool:
        return await self._finish(
            message_id, owner, status=Status.FAILED, last_error=error[:500], attempts=attempts
        )

    async def mark_skipped(self, message_id: int, *, owner: str, reason: str) -> bool:
        return await self._finish(message_id, owner, status=Status.SKIPPED, last_error=reason[:500])

    async def counts(self) -> dict[str, int]:
        rows = await self._session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return {status: count for status, count in rows}

    async def outstanding(self, now: datetime) -> int:
        """Rows due by ``now`` not yet finished (pending or being sent)."""
        return (
            await self._session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    or_(
                        OutboxMessage.status == Status.SENDING,
                        and_(OutboxMessage.status == Status.PENDING, OutboxMessage.due_at <= now),
                    )
                )
            )
            or 0
        )

    async def oldest_pending_due(self) -> datetime | None:
        return await self._session.scalar(
            select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == Status.PENDING)
        )

    # -- targets ---------------------------------------------------------------------------

    async def reachable_identities(self, member_id: int) -> list[Identity]:
        """Where a member can be written to, the most recently active first."""
        result = await self._session.scalars(
            select(Identity)
            .where(
                Identity.member_id == member_id,
                Identity.unreachable_at.is_(None),
                Identity.platform != "console",
            )
            .order_by(Identity.last_seen_at.desc(), Identity.id.desc())
        )
        return list(result)

    async def conversation(self, conversation_id: int) -> Conversation | None:
        return await self._session.get(Conversation, conversation_id)

    async def any_reference_in(self, platform: str, tenant_id: str) -> dict[str, Any] | None:
        """A stored conversation reference from the same tenant (for its service URL)."""
        return await self._session.scalar(
            select(Conversation.conversation_reference)
            .where(
                Conversation.platform == platform,
                Conversation.tenant_id == tenant_id,
                Conversation.conversation_reference.is_not(None),
            )
            .order_by(Conversation.updated_at.desc())
            .limit(1)
        )

    async def remember_private_chat(
        self, identity_id: int, *, dm_channel_id: str | None, reference: dict[str, Any] | None
    ) -> None:
        identity = await self._session.get(Identity, identity_id)
        if identity is None:
            return
        if dm_channel_id:
            identity.dm_channel_id = dm_channel_id
        if reference is not None:
            identity.conversation_reference = reference

    async def mark_unreachable(
        self,
        *,
        identity_id: int | None,
        conversation_row_id: int | None,
        reason: str,
        now: datetime,
    ) -> None:
        """The platform said stop: record it, so nothing more is sent there and coordinators
        can see who can't be reached."""
        if identity_id is not None:
            await self._session.execute(
                update(Identity)
                .where(Identity.id == identity_id)
                .values(unreachable_at=now, unreachable_reason=reason[:200])
            )
        if conversation_row_id is not None:
            await self._session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_row_id)
                .values(unreachable_at=now, unreachable_reason=reason[:200])
            )


class LockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def acquire(self, name: str, *, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lock ``name``; False while another owner's lease is alive."""
        statement = upsert_insert(self._session, Lock).values(
            name=name, owner=owner, expires_at=now + ttl
        )
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"owner": owner, "expires_at": now + ttl},
            where=or_(Lock.owner == owner, Lock.expires_at < now),
        )
        result = await self._session.execute(statement)
        return result.rowcount == 1

    async def release(self, name: str, *, owner: str) -> None:
        await self._session.execute(delete(Lock).where(Lock.name == name, Lock.owner == owner))
