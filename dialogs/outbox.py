"""How features queue a message the bot sends on its own. Nothing else sends proactively."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from dialogs.views import Reply, View, text_reply, view_to_dict
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from dialogs.turn import Turn


class Kind(StrEnum):
    CHECKIN_INVITE = "checkin.invite"
    CHECKIN_NUDGE = "checkin.nudge"
    MEETING_ANNOUNCEMENT = "meeting.announcement"
    MEETING_REMINDER = "meeting.reminder"
    MEETING_CHANGE = "meeting.change"
    ACTION_REMINDER = "action.reminder"
    DIGEST = "practice.digest"
    RISK_ALERT = "risk.alert"
    NOTICE = "notice"


# How late a message may still go out, when no explicit deadline is given. A reminder for a
# meeting passes its deadline when the meeting starts (the feature sets ``not_after``).
MAX_LATENESS: dict[Kind, timedelta] = {
    Kind.CHECKIN_INVITE: timedelta(days=7),
    Kind.CHECKIN_NUDGE: timedelta(hours=12),
    Kind.MEETING_ANNOUNCEMENT: timedelta(days=2),
    Kind.MEETING_REMINDER: timedelta(hours=1),
    Kind.MEETING_CHANGE: timedelta(days=1),
    Kind.ACTION_REMINDER: timedelta(days=1),
    Kind.DIGEST: timedelta(days=2),
    Kind.RISK_ALERT: timedelta(days=7),
    Kind.NOTICE: timedelta(days=1),
}


@dataclass(frozen=True, slots=True)
class ToMember:
    """A member, privately (their DM on whichever platform they last used)."""

    member_id: int


@dataclass(frozen=True, slots=True)
class ToConversation:
    """A channel or group chat the bot is in (our conversations.id)."""

    conversation_id: int


async def queue(
    uow: UnitOfWork,
    *,
    key: str,
    kind: Kind,
    to: ToMember | ToConversation,
    view: View,
    due_at: datetime,
    now: datetime,
    not_after: datetime | None = None,
) -> bool:
    """Queue ``view`` for ``to`` at ``due_at`` (UTC). Queuing the same key twice queues once;
    returns False the second time."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    deadline = not_after if not_after is not None else due_at + MAX_LATENESS[kind]
    return await uow.outbox.enqueue(
        key=key,
        kind=kind.value,
        view=view_to_dict(view),
        due_at=due_at,
        not_after=deadline,
        member_id=to.member_id if isinstance(to, ToMember) else None,
        conversation_id=to.conversation_id if isinstance(to, ToConversation) else None,
        now=now,
    )


async def cancel(uow: UnitOfWork, key_prefix: str) -> int:
    """Cancel the pending messages whose keys start with ``key_prefix``."""
    return await uow.outbox.cancel(key_prefix)


async def privately(turn: Turn, view: View, *, key: str, note: str) -> Sequence[Reply]:
    """``view`` is for the member's eyes only: in their private chat it is the answer; asked
    for anywhere else, it goes to their private chat (``key`` plus the moment, so asking again
    sends it again) and ``note``, shown only to them, says so."""
    if turn.message.is_direct:
        return (Reply(view),)
    await queue(
        turn.uow,
        key=f"{key}:{turn.now.timestamp():.0f}",
        kind=Kind.NOTICE,
        to=ToMember(turn.member.id),
        view=view,
        due_at=turn.now,
        now=turn.now,
    )
    return (text_reply(note, private=True),)
