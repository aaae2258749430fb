"""The dispatcher: claims due outbox rows, sends them paced within the platforms' limits, and
records each outcome the moment it is known."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialogs.views import view_from_dict
from scheduler.clock import Clock
from scheduler.delivery import (
    Destination,
    Outcome,
    RateLimited,
    Rejected,
    Sender,
    Sent,
    Transient,
    Unreachable,
)
from scheduler.pacing import PLATFORM_LIMITS, RateLimiter
from storage.outbox import Claimed
from storage.repositories import Store

logger = logging.getLogger(__name__)

DISPATCH_LOCK = "outbox-dispatcher"


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    batch: int = 500
    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    # A 429's Retry-After above this is not waited for in-process: the row is rescheduled.
    max_inline_wait: float = 60.0
    concurrency: int = 32


@dataclass(slots=True)
class DispatchReport:
    refused: bool = False
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    rate_limited: int = 0
    unreachable: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        *,
        clock: Clock,
        owner: str,
        single_process: bool,
        policy: DispatchPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._senders = dict(senders)
        self._clock = clock
        self._owner = owner
        self._single_process = single_process
        self._policy = policy or DispatchPolicy()
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(clock)
        self._renewed_at = 0.0
        self._stopping = False

    @property
    def owner(self) -> str:
        return self._owner

    def stop_sending(self) -> None:
        """Shutting down: claim nothing more and start no new send; the sends in flight finish
        and are recorded, and what is left of the batch stays claimed for ``release``."""
        self._stopping = True

    async def run_once(self, now: datetime) -> DispatchReport:
        """Send what is due at ``now``. Returns what happened."""
        report = DispatchReport()
        policy = self._policy
        if self._stopping:
            return report
        async with self._store.unit() as uow:
            if self._single_process and not await uow.locks.acquire(
                DISPATCH_LOCK, owner=self._owner, now=now, ttl=policy.lease
            ):
                report.refused = True
                return report
        async with self._store.unit() as uow:
            report.skipped = await uow.outbox.skip_overdue(now)
            claimed = await uow.outbox.claim_due(
                now=now, owner=self._owner, lease=policy.lease, limit=policy.batch
            )
        report.claimed = len(claimed)
        if not claimed:
            return report
        destinations = await self._resolve(claimed)
        groups: dict[str, list[tuple[Claimed, Destination | None]]] = defaultdict(list)
        for row in claimed:
            destination = destinations.get(row.id)
            key = destination.pacing_key if destination else f"none:{row.id}"
            groups[key].append((row, destination))
        semaphore = asyncio.Semaphore(policy.concurrency)
        self._renewed_at = self._clock.monotonic()
        await asyncio.gather(
            *(self._send_group(rows, semaphore, report) for rows in groups.values())
        )
        if self._single_process:
            async with self._store.unit() as uow:
                await uow.locks.acquire(
                    DISPATCH_LOCK, owner=self._owner, now=self._clock.now(), ttl=policy.lease
                )
        return report

    async def release(self) -> None:
        """Graceful stop: give back unsent leased rows and the SQLite dispatcher lock."""
        async with self._store.unit() as uow:
            await uow.outbox.release(self._owner)
            if self._single_process:
                await uow.locks.release(DISPATCH_LOCK, owner=self._owner)

    async def close(self) -> None:
        """After the last batch: close the senders' connections."""
        for sender in self._senders.values():
            await sender.close()

    async def _renew_leases_if_due(self) -> None:
        """A long paced batch keeps its rows: renew the lease a third of the way through it."""
        if self._clock.monotonic() - self._renewed_at < self._policy.lease.total_seconds() / 3:
            return
        self._renewed_at = self._clock.monotonic()
        async with self._store.unit() as uow:
            await uow.outbox.renew_lease(
                owner=self._owner, until=self._clock.now() + self._policy.lease
            )

    async def _resolve(self, claimed: list[Claimed]) -> dict[int, Destination]:
        destinations: dict[int, Destination] = {}
        async with self._store.unit() as uow:
            for row in claimed:
                if row.member_id is not None:
                    for identity in await uow.outbox.reachable_identities(row.member_id):
                        if identity.platform in self._senders:
                            via = None
                            if identity.conversation_reference is None:
                                via = await uow.outbox.any_reference_in(
                                    identity.platform, identity.tenant_id
                                )
                            destinations[row.id] = Destination(
                                via_reference=via,
                                platform=identity.platform,
                                tenant_id=identity.tenant_id,
                                identity_id=identity.id,
                                user_id=identity.user_id,
                                dm_channel_id=identity.dm_channel_id,
                                reference=identity.conversation_reference,
                            )
                            break
                elif row.conversation_id is not None:
                    conversation = await uow.outbox.conversation(row.conversation_id)
                    if (
                        conversation is not None
                        and conversation.unreachable_at is None
                        and conversation.platform in self._senders
                    ):
                        destinations[row.id] = Destination(
                            platform=conversation.platform,
                            tenant_id=conversation.tenant_id,
                            conversation_row_id=conversation.id,
                            conversation_id=conversation.conversation_id,
                            reference=conversation.conversation_reference,
                        )
        return destinations

    async def _send_group(
        self,
        rows: list[tuple[Claimed, Destination | None]],
        semaphore: asyncio.Semaphore,
        report: DispatchReport,
    ) -> None:
        """One target's messages, in order, one at a time (pacing is per target)."""
        unreachable: str | None = None
        for row, destination in rows:
            if self._stopping:
                return  # the rest stay claimed until release() gives them back
            if destination is None:
                await self._fail(
                    row,
                    row.attempts,
                    "no reachable destination: the member has no platform the bot can write to",
                    report,
                )
                continue
            if unreachable is not None:
                await self._fail(row, row.attempts, f"unreachable: {unreachable}", report)
                continue
            async with semaphore:
                if self._stopping:
                    return
                unreachable = await self._deliver(row, destination, report)

    async def _deliver(
        self, row: Claimed, destination: Destination, report: DispatchReport
    ) -> str | None:
        """Send one row, waiting out 429s; returns a reason when the target is unreachable.
        Stopping while it waits for its turn leaves the row claimed, unsent, for release()."""
        sender = self._senders[destination.platform]
        limits = PLATFORM_LIMITS.get(destination.platform)
        view = view_from_dict(row.view)
        attempts = row.attempts
        while True:
            if limits is not None:
                await self._limiter.acquire(
                    (destination.pacing_key, limits.per_target),
                    (destination.app_key, limits.per_app),
                )
            if self._stopping:
                return None
            if row.not_after is not None and self._clock.now() > row.not_after:
                async with self._store.unit() as uow:
                    await uow.outbox.mark_skipped(
                        row.id,
                        owner=self._owner,
                        reason="too late: its deadline passed while it waited to be sent",
                    )
                report.skipped += 1
                return None
            await self._renew_leases_if_due()
            attempts += 1
            try:
                outcome: Outcome = await sender.send(destination, view)
            except Exception as error:  # a sender bug must not kill the batch
                logger.exception("sender %s raised", destination.platform)
                outcome = Transient(f"{type(error).__name__}")
            match outcome:
                case Sent():
                    await self._sent(row, destination, outcome, attempts, report)
                    return None
                case RateLimited(retry_after=retry_after, error=error):
                    report.rate_limited += 1
                    self._limiter.block(destination.pacing_key, retry_after)
                    if destination.platform == "slack":
                        self._limiter.block(destination.app_key, retry_after)
                    if (
                        retry_after > self._policy.max_inline_wait
                        or attempts >= self._policy.max_attempts
                    ):
                        await self._retry_later(row, attempts, error, retry_after, report)
                        return None
                    continue  # the limiter waits for Retry-After before the next try
                case Transient(error=error):
                    if attempts >= self._policy.max_attempts:
                        await self._fail(
                            row, attempts, f"gave up after {attempts} attempts: {error}", report
                        )
                    else:
                        await self._retry_later(row, attempts, error, None, report)
                    return None
                case Unreachable(reason=reason):
                    report.unreachable += 1
                    await self._mark_unreachable(destination, reason)
                    await self._fail(row, attempts, f"unreachable: {reason}", report)
                    return reason
                case Rejected(error=error):
                    await self._fail(row, attempts, f"rejected: {error}", report)
                    return None

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self._policy.backoff_max, self._policy.backoff_base * 2 ** (attempts - 1))
        return self._rng.uniform(ceiling / 2, ceiling)  # "equal jitter"

    async def _sent(
        self,
        row: Claimed,
        destination: Destination,
        outcome: Sent,
        attempts: int,
        report: DispatchReport,
    ) -> None:
        async with self._store.unit() as uow:
            recorded = await uow.outbox.mark_sent(
                row.id,
                owner=self._owner,
                now=self._clock.now(),
                platform_message_id=outcome.message_id,
                attempts=attempts,
            )
            if destination.identity_id is not None and (outcome.dm_channel_id or outcome.reference):
                await uow.outbox.remember_private_chat(
                    destination.identity_id,
                    dm_channel_id=outcome.dm_channel_id,
                    reference=outcome.reference,
                )
        if recorded:
            report.sent += 1
        else:
            logger.warning("outbox row %s was sent after its lease was taken over", row.id)

    async def _retry_later(
        self,
        row: Claimed,
        attempts: int,
        error: str,
        retry_after: float | None,
        report: DispatchReport,
    ) -> None:
        delay = retry_after if retry_after is not None else self._backoff(attempts)
        async with self._store.unit() as uow:
            await uow.outbox.mark_retry(
                row.id,
                owner=self._owner,
                at=self._clock.now() + timedelta(seconds=delay),
                error=error,
                attempts=attempts,
            )
        report.retried += 1

    async def _fail(self, row: Claimed, attempts: int, error: str, report: DispatchReport) -> None:
        async with self._store.unit() as uow:
            await uow.outbox.mark_failed(row.id, owner=self._owner, error=error, attempts=attempts)
        report.failed += 1
        report.errors.append(error)
        logger.warning("outbox row %s (%s) failed: %s", row.id, row.kind, error)

    async def _mark_unreachable(self, destination: Destination, reason: str) -> None:
        async with self._store.unit() as uow:
            await uow.outbox.mark_unreachable(
                identity_id=destination.identity_id,
                conversation_row_id=destination.conversation_row_id,
                reason=reason,
                now=self._clock.now(),
            )
