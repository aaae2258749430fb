"""Sliding-window rate limits per target (a Slack channel, a Teams conversation) and per app.

The platforms' documented limits (DESIGN.md, PERFORMANCE.md): Slack chat.postMessage about one
message per second per channel; Teams 7 per second, 8 per 2 s, 60 per 30 s and 1,800 per hour per
conversation, and 50 requests per second per app per tenant.

A Slack 429 holds the whole workspace (its per-channel pace is kept, so a refusal means the
workspace ceiling); a Teams 429 holds only that conversation.

One ``Pacer`` abstraction, two places to keep the windows: ``LocalPacer`` in the process, for the
one dispatcher a SQLite database has; ``SharedPacer`` in the database, for replicas sharing
PostgreSQL, so that together they keep to each target's limits and each app's budget. Neither
waits: ``reserve`` takes a send or says how long until one fits, and the dispatcher decides
whether to wait for it or give the message back to the outbox until then.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scheduler.clock import Clock
from storage.repositories import Store

MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    seconds: float

    @property
    def micros(self) -> int:
        return round(self.seconds * MICROS)


@dataclass(frozen=True, slots=True)
class Limits:
    per_target: tuple[Window, ...]
    per_app: tuple[Window, ...]

    @property
    def target_spacing(self) -> float:
        """Seconds between two sends to one target at the fastest window's pace."""
        return min((w.seconds / w.count for w in self.per_target), default=0.0)

    @property
    def app_spacing(self) -> float:
        return min((w.seconds / w.count for w in self.per_app), default=0.0)


PLATFORM_LIMITS: dict[str, Limits] = {
    # Slack's workspace ceiling for chat.postMessage is documented only as "several hundred
    # per minute": pace at 10 a second and let a 429 (which then holds the whole workspace)
    # say if it is lower.
    "slack": Limits(per_target=(Window(1, 1.0),), per_app=(Window(10, 1.0),)),
    "teams": Limits(
        per_target=(Window(7, 1.0), Window(8, 2.0), Window(60, 30.0), Window(1800, 3600.0)),
        per_app=(Window(50, 1.0),),
    ),
}

# Past the longest window a key's history counts for nothing.
HORIZON = timedelta(
    seconds=max(
        w.seconds for limits in PLATFORM_LIMITS.values() for w in limits.per_target + limits.per_app
    )
)

# A key and the windows sends to it keep to.
Pace = tuple[str, tuple[Window, ...]]


def wait_micros(sent: Sequence[int], windows: tuple[Window, ...], now: int) -> int:
    """Microseconds until one more send fits every window (0: now). ``sent``: oldest first.
    Integers, so that "exactly one second later" is exactly that on every clock."""
    wait = 0
    for window in windows:
        recent = [t for t in sent if t > now - window.micros]
        if len(recent) >= window.count:
            wait = max(wait, recent[-window.count] + window.micros - now)
    return wait


def kept(sent: Sequence[int], windows: tuple[Window, ...], now: int) -> list[int]:
    """The sends a window can still count: the most recent ones within the longest window."""
    if not windows:
        return []
    span = max(w.micros for w in windows)
    most = max(w.count for w in windows)
    return [t for t in sent if t > now - span][-most:]


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


class Pacer(ABC):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    @abstractmethod
    async def reserve(self, *paces: Pace) -> float:
        """Take one send from every key if all of them allow it now, and return 0.0; otherwise
        take nothing and return the seconds until they might. The check and the record are one
        step (no await between them here, one transaction in the database)."""

    @abstractmethod
    async def block(self, key: str, seconds: float) -> None:
        """The platform said 429: nothing more to ``key`` for ``seconds``."""

    @abstractmethod
    async def forget_idle(self) -> None:
        """Let go of keys nothing was sent to within the longest window."""

    async def acquire(self, *paces: Pace) -> None:
        """Wait (on the clock) until a send fits, and take it."""
        while (wait := await self.reserve(*paces)) > 0:
            await self._clock.sleep(wait)


def _wait(sent: Sequence[int], windows: tuple[Window, ...], blocked: int | None, now: int) -> int:
    return max(wait_micros(sent, windows, now), (blocked or now) - now)


class LocalPacer(Pacer):
    """The windows in this process: right when one dispatcher sends for the database (SQLite,
    where a second dispatcher refuses to claim). Times from the clock's monotonic seconds."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._sent: dict[str, list[int]] = {}
        self._blocked_until: dict[str, int] = {}

    def _now(self) -> int:
        return round(self._clock.monotonic() * MICROS)

    async def reserve(self, *paces: Pace) -> float:
        now = self._now()
        wait = max(
            (
                _wait(self._sent.get(key, ()), windows, self._blocked_until.get(key), now)
                for key, windows in paces
            ),
            default=0,
        )
        if wait > 0:
            return wait / MICROS
        for key, windows in paces:
            if windows:
                self._sent[key] = kept([*self._sent.get(key, ()), now], windows, now)
        return 0.0

    async def block(self, key: str, seconds: float) -> None:
        until = self._now() + round(seconds * MICROS)
        self._blocked_until[key] = max(self._blocked_until.get(key, until), until)

    async def forget_idle(self) -> None:
        before = self._now() - HORIZON // timedelta(microseconds=1)
        for key in [k for k, sent in self._sent.items() if not sent or sent[-1] <= before]:
            del self._sent[key]
        for key in [k for k, until in self._blocked_until.items() if until <= before]:
            del self._blocked_until[key]


class SharedPacer(Pacer):
    """The windows in the database (``pacing_keys``), for dispatchers that share PostgreSQL:
    each reservation locks its keys' rows, checks and records in one transaction, so replicas
    together never exceed a target's limit or an app's budget. Times from the clock's UTC
    ``now``: replicas on several hosts need their clocks in step (NTP), as for the leases."""

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(clock)
        self._store = store

    async def reserve(self, *paces: Pace) -> float:
        now = self._clock.now()
        at = micros(now)
        ordered = sorted(paces)  # one lock order for every transaction: no deadlock
        async with self._store.unit() as uow:
            states = [await uow.pacing.lock(key, now=now) for key, _ in ordered]
            wait = max(
                (
                    _wait(
                        state.sent,
                        windows,
                        micros(state.blocked_until) if state.blocked_until else None,
                        at,
                    )
                    for state, (_, windows) in zip(states, ordered, strict=True)
                ),
                default=0,
            )
            if wait > 0:
                return wait / MICROS
            for state, (key, windows) in zip(states, ordered, strict=True):
                await uow.pacing.save(
                    key,
                    sent=kept([*state.sent, at], windows, at),
                    blocked_until=state.blocked_until,
                    now=now,
                )
        return 0.0

    async def block(self, key: str, seconds: float) -> None:
        now = self._clock.now()
        until = now + timedelta(microseconds=round(seconds * MICROS))
        async with self._store.unit() as uow:
            state = await uow.pacing.lock(key, now=now)
            if state.blocked_until is not None:
                until = max(until, state.blocked_until)
            await uow.pacing.save(key, sent=list(state.sent), blocked_until=until, now=now)

    async def forget_idle(self) -> None:
        async with self._store.unit() as uow:
            await uow.pacing.forget_idle(self._clock.now() - HORIZON)
