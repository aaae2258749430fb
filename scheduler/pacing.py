"""Sliding-window rate limits per target (a Slack channel, a Teams conversation) and per app.

The platforms' documented limits (DESIGN.md, PERFORMANCE.md): Slack chat.postMessage about one
message per second per channel; Teams 7 per second, 8 per 2 s, 60 per 30 s and 1,800 per hour per
conversation, and 50 requests per second per app per tenant.

A Slack 429 holds the whole workspace (its per-channel pace is kept, so a refusal means the
workspace ceiling); a Teams 429 holds only that conversation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from scheduler.clock import Clock


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Limits:
    per_target: tuple[Window, ...]
    per_app: tuple[Window, ...]


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


class RateLimiter:
    """Waits (on the injected clock) until a send to ``key`` fits every window."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def _wait(self, key: str, windows: tuple[Window, ...], now: float) -> float:
        wait = self._blocked_until.get(key, now) - now
        history = self._sent.get(key)
        if history:
            horizon = max(window.seconds for window in windows) if windows else 0.0
            while history and history[0] <= now - horizon:
                history.popleft()
            for window in windows:
                recent = [t for t in history if t > now - window.seconds]
                if len(recent) >= window.count:
                    wait = max(wait, recent[-window.count] + window.seconds - now)
        return wait

    async def acquire(self, *limits: tuple[str, tuple[Window, ...]]) -> None:
        """Take one send from every (key, windows) pair, waiting until all allow it. The check
        and the record happen with no await between them, so concurrent tasks can't both pass."""
        while True:
            now = self._clock.monotonic()
            wait = max((self._wait(key, windows, now) for key, windows in limits), default=0.0)
            if wait <= 0:
                for key, windows in limits:
                    if windows:
                        self._sent.setdefault(key, deque()).append(now)
                return
            await self._clock.sleep(wait)

    def block(self, key: str, seconds: float) -> None:
        """The platform said 429: nothing more to ``key`` for ``seconds``."""
        until = self._clock.monotonic() + seconds
        self._blocked_until[key] = max(self._blocked_until.get(key, until), until)
