"""The dispatcher: claims due outbox rows, sends them paced within the platforms' limits, and
records each outcome the moment it is known.

Each target's messages go in order, every target independently. A run waits for a target's
next slot only briefly (``max_inline_wait``); a target that is not ready by then gets its rows
back in the outbox, due when the pacer says it will be, so a slow Slack channel neither holds up
the Teams conversations in the same batch nor keeps the next batch from being claimed."""

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
from scheduler.pacing import PLATFORM_LIMITS, LocalPacer, Pace, Pacer, SharedPacer, Window
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
    # A run waits in-process for a pacing slot or a 429's Retry-After only while the wait ends
    # within this many seconds of the run's start; a target not ready by then gets its rows
    # back in the outbox, due when it will be ready (DispatchReport.next_due).
    max_inline_wait: float = 2.0
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
    # Given back unsent because their target (or app) was not ready within the run: no
    # attempt counted. ``next_due`` is the earliest time one of them is due again.
    deferred: int = 0
    next_due: datetime | None = None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _NotReady:
    """A row's target can't take it within this run: try again in ``wait`` seconds. After a
    429 the row's attempt and error are kept."""

    wait: float
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class _Deferral:
    """What is left of one target's messages in this run, the first of them ``not_ready``."""

    destination: Destination
    rows: list[Claimed]
    not_ready: _NotReady


# How often a dispatcher lets go of pacing keys idle for longer than every window.
FORGET_IDLE_EVERY = 600.0


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
        pacer: Pacer | None = None,
    ) -> None:
        self._store = store
        self._senders = dict(senders)
        self._clock = clock
        self._owner = owner
        self._single_process = single_process
        self._policy = policy or DispatchPolicy()
        self._rng = rng or random.Random()
        # Dispatchers sharing PostgreSQL share the windows; SQLite's one dispatcher keeps them.
        self._pacer = pacer or (LocalPacer(clock) if single_process else SharedPacer(store, clock))
        self._forgot_at = clock.monotonic()
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
        horizon = self._renewed_at + policy.max_inline_wait
        deferrals: list[_Deferral] = []
        await asyncio.gather(
            *(
                self._send_group(rows, semaphore, report, horizon, deferrals)
                for rows in groups.values()
            )
        )
        if deferrals:
            await self._defer(deferrals, report)
        if self._clock.monotonic() - self._forgot_at >= FORGET_IDLE_EVERY:
            self._forgot_at = self._clock.monotonic()
            await self._pacer.forget_idle()
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
        horizon: float,
        deferrals: list[_Deferral],
    ) -> None:
        """One target's messages, in order, one at a time (pacing is per target). When the
        target can't take the next one within the run, it and the rest are deferred."""
        unreachable: str | None = None
        for index, (row, destination) in enumerate(rows):
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
            result = await self._deliver(row, destination, report, semaphore, horizon)
            if isinstance(result, _NotReady):
                deferrals.append(_Deferral(destination, [r for r, _ in rows[index:]], result))
                return
            unreachable = result

    async def _deliver(
        self,
        row: Claimed,
        destination: Destination,
        report: DispatchReport,
        semaphore: asyncio.Semaphore,
        horizon: float,
    ) -> str | _NotReady | None:
        """Send one row, waiting out pacing and 429s that end before ``horizon``; returns a
        reason when the target is unreachable, or _NotReady when it can't be sent in this run.
        The semaphore bounds the sends in flight, never a wait. Stopping while it waits for its
        turn leaves the row claimed, unsent, for release()."""
        limits = PLATFORM_LIMITS.get(destination.platform)
        paces: tuple[Pace, ...] = ()
        if limits is not None:
            paces = (
                (destination.pacing_key, limits.per_target),
                (destination.app_key, limits.per_app),
            )
        attempts = row.attempts
        error: str | None = None  # the last 429's, while the row waits after one
        while True:
            async with semaphore:
                if self._stopping:
                    return None
                wait = await self._pacer.reserve(*paces) if paces else 0.0
                if wait <= 0:
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
                    outcome = await self._send(row, destination)
            if wait > 0:
                if self._clock.monotonic() + wait > horizon:
                    return _NotReady(wait, attempts, error)
                await self._clock.sleep(wait)
                continue
            match outcome:
                case Sent():
                    await self._sent(row, destination, outcome, attempts, report)
                    return None
                case RateLimited(retry_after=retry_after, error=error):
                    report.rate_limited += 1
                    await self._pacer.block(destination.pacing_key, retry_after)
                    if destination.platform == "slack":
                        await self._pacer.block(destination.app_key, retry_after)
                    if attempts >= self._policy.max_attempts:
                        await self._retry_later(row, attempts, error, retry_after, report)
                        return None
                    continue  # the pacer now says when: waited for, or the row given back
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

    async def _send(self, row: Claimed, destination: Destination) -> Outcome:
        try:
            return await self._senders[destination.platform].send(
                destination, view_from_dict(row.view)
            )
        except Exception as error:  # a sender bug must not kill the batch
            logger.exception("sender %s raised", destination.platform)
            return Transient(f"{type(error).__name__}")

    async def _defer(self, deferrals: list[_Deferral], report: DispatchReport) -> None:
        """Give back what targets could not take in this run, each row due when its target and
        app should have room: the target's rows spread at its shortest window's pace, each
        app's rows at its own, so the next runs claim them about when they can go."""
        now = self._clock.now()
        by_app: dict[str, list[tuple[datetime, Claimed, _Deferral]]] = defaultdict(list)
        for deferral in deferrals:
            destination = deferral.destination
            limits = PLATFORM_LIMITS[destination.platform]  # unpaced sends are never deferred
            start = now + timedelta(seconds=deferral.not_ready.wait)
            for index, row in enumerate(deferral.rows):
                at = _spread(start, index, limits.per_target)
                by_app[destination.app_key].append((at, row, deferral))
        plan: list[tuple[int, datetime]] = []
        for planned in by_app.values():
            planned.sort(key=lambda entry: entry[0])
            first = planned[0][0]
            app_windows = PLATFORM_LIMITS[planned[0][2].destination.platform].per_app
            for index, (at, row, deferral) in enumerate(planned):
                at = max(at, _spread(first, index, app_windows))
                report.next_due = at if report.next_due is None else min(report.next_due, at)
                not_ready = deferral.not_ready
                if row is deferral.rows[0] and not_ready.error is not None:
                    # Refused with a 429: its attempt counts, and its error shows.
                    await self._retry_later(
                        row, not_ready.attempts, not_ready.error, (at - now).total_seconds(), report
                    )
                else:
                    plan.append((row.id, at))
        if plan:
            async with self._store.unit() as uow:
                await uow.outbox.defer(plan, owner=self._owner)
            report.deferred += len(plan)

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


def _spread(start: datetime, index: int, windows: tuple[Window, ...]) -> datetime:
    """When the ``index``-th of several sends to one key fits its shortest window, the first
    going at ``start``: a burst of that window's count, then the next burst a window later."""
    if not windows:
        return start
    window = min(windows, key=lambda w: w.seconds)
    return start + timedelta(seconds=(index // window.count) * window.seconds)
