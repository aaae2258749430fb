"""Test a flow as a table of (who, what they say, what the bot answers) - zulip's verify_dialog."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.render_text import render_text
from dialogs.core import Partnerbot
from dialogs.messages import (
    ConversationAddress,
    ConversationKind,
    FormValue,
    IncomingMessage,
    Mention,
    Platform,
    PlatformUser,
)
from dialogs.views import Reply

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning, GMT in London


class FrozenClock:
    """The core's clock in dialog tests: time moves only when a test sets ``now``."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def person(name: str) -> PlatformUser:
    return PlatformUser(Platform.SLACK, "T1", f"U{name.upper()}", name)


def dm(user: PlatformUser) -> ConversationAddress:
    return ConversationAddress(Platform.SLACK, "T1", f"D{user.user_id}", ConversationKind.PERSONAL)


def channel(name: str = "marr") -> ConversationAddress:
    return ConversationAddress(
        Platform.SLACK, "T1", f"C{name.upper()}", ConversationKind.CHANNEL, name
    )


async def replies_to(
    core: Partnerbot,
    user: PlatformUser,
    text: str,
    mentions: Sequence[PlatformUser] = (),
    *,
    form: dict[str, str] | None = None,
    where: ConversationAddress | None = None,
) -> Sequence[Reply]:
    """What the bot answers; ``form`` makes it a button press carrying a card's inputs."""
    message = IncomingMessage(
        user,
        where or dm(user),
        text,
        mentions=tuple(Mention(m.user_id, m.display_name) for m in mentions),
        form=tuple(FormValue(k, v) for k, v in (form or {}).items()),
        is_button=form is not None,
    )
    return await core.handle(message)


async def say(
    core: Partnerbot,
    user: PlatformUser,
    text: str,
    mentions: Sequence[PlatformUser] = (),
    *,
    form: dict[str, str] | None = None,
    where: ConversationAddress | None = None,
) -> str:
    replies = await replies_to(core, user, text, mentions, form=form, where=where)
    return "\n".join(render_text(reply.view) for reply in replies)


async def verify_dialog(core: Partnerbot, table: Sequence[tuple[PlatformUser, str, str]]) -> None:
    """Each expected text must appear in the bot's answer to that line."""
    for user, text, expected in table:
        answer = await say(core, user, text)
        assert expected in answer, (
            f"{user.display_name}: {text!r}\n  expected {expected!r}\n  got {answer!r}"
        )
