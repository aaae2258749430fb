"""The audit trail: what coordinators did, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent, Member


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self,
        *,
        actor: Member | None,
        action: str,
        subject: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self._session.add(
            AuditEvent(
                at=now,
                actor_id=actor.id if actor is not None else None,
                actor_name=actor.display_name if actor is not None else "partnerbot",
                action=action,
                subject=subject[:300],
                detail=detail or {},
            )
        )
        await self._session.flush()

    async def recent(self, *, limit: int = 20, action: str | None = None) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(await self._session.scalars(query.limit(limit)))
