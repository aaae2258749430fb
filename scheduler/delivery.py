"""What the dispatcher asks of a platform: send this view there, and say how it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from dialogs.views import View


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one outbox message goes, resolved from the database at send time."""

    platform: str
    tenant_id: str
    # A member's private chat (identity_id set) or a channel (conversation_row_id set).
    identity_id: int | None = None
    user_id: str | None = None
    dm_channel_id: str | None = None
    conversation_row_id: int | None = None
    conversation_id: str | None = None
    reference: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # Teams: a reference to another conversation in the same tenant, whose service URL and bot
    # account let the sender open a personal chat with a member it has never talked to.
    via_reference: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def pacing_key(self) -> str:
        target = self.conversation_id or self.dm_channel_id or f"user:{self.user_id}"
        return f"{self.platform}:{self.tenant_id}:{target}"

    @property
    def app_key(self) -> str:
        return f"{self.platform}:{self.tenant_id}:app"


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str | None = None
    # A private chat the sender had to open (Slack conversations.open, Teams 1:1 creation):
    # stored so the next send goes straight there.
    dm_channel_id: str | None = None
    reference: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RateLimited:
    retry_after: float
    error: str = "rate limited"


@dataclass(frozen=True, slots=True)
class Transient:
    """Worth retrying: 412, 5xx, a connection error."""

    error: str


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The platform says stop: blocked, not in the channel, account inactive."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A permanent error that is not about the target (e.g. a malformed message)."""

    error: str


Outcome = Sent | RateLimited | Transient | Unreachable | Rejected


class Sender(Protocol):
    platform: str

    async def send(self, destination: Destination, view: View) -> Outcome: ...

    async def close(self) -> None:
        """Let go of what the sender holds open (an HTTP session), after its last send."""
