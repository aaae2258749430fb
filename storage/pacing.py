"""Pacing keys in the database, so that dispatchers sharing it share the platforms' limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import upsert_insert
from storage.models import PacingKey


@dataclass(frozen=True, slots=True)
class KeyState:
    """What one key's row says: its recent sends (microseconds since the epoch, oldest first)
    and until when a 429 holds it."""

    key: str
    sent: tuple[int, ...]
    blocked_until: datetime | None


class PacingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, key: str, *, now: datetime) -> KeyState:
        """The row of ``key``, made if missing and locked until the transaction ends. An upsert
        rather than SELECT ... FOR UPDATE: a missing row can't be locked, and two dispatchers
        making it at once would both think it empty. (SQLite has one writer at a time anyway.)
        Lock several keys in one order (sorted) so that two transactions never deadlock."""
        statement = (
            upsert_insert(self._session, PacingKey)
            .values(key=key, sent=[], blocked_until=None, updated_at=now)
            .on_conflict_do_update(index_elements=["key"], set_={"key": key})
            .returning(PacingKey.sent, PacingKey.blocked_until)
        )
        row = (await self._session.execute(statement)).one()
        return KeyState(key, tuple(row.sent or ()), row.blocked_until)

    async def save(
        self, key: str, *, sent: list[int], blocked_until: datetime | None, now: datetime
    ) -> None:
        await self._session.execute(
            update(PacingKey)
            .where(PacingKey.key == key)
            .values(sent=sent, blocked_until=blocked_until, updated_at=now)
        )

    async def forget_idle(self, before: datetime) -> int:
        """Drop keys nothing was sent to since ``before`` (older than every window)."""
        result = await self._session.execute(delete(PacingKey).where(PacingKey.updated_at < before))
        return result.rowcount or 0
