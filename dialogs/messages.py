"""What arrives from a platform, once the edge has parsed it. Nothing here is a raw payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    TEAMS = "teams"
    SLACK = "slack"
    CONSOLE = "console"


class ConversationKind(StrEnum):
    PERSONAL = "personal"
    CHANNEL = "channel"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class PlatformUser:
    """A person as one platform names them."""

    platform: Platform
    tenant_id: str
    user_id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class ConversationAddress:
    """Where a message came from, and how to reach that place again.

    ``reference`` is opaque to the core: a serialised Teams ConversationReference, stored so the
    bot can write to the conversation later. ``thread_id`` is the thread a reply belongs in.
    """

    platform: Platform
    tenant_id: str
    conversation_id: str
    kind: ConversationKind
    name: str = ""
    thread_id: str | None = None
    reference: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def is_private(self) -> bool:
        return self.kind is ConversationKind.PERSONAL


@dataclass(frozen=True, slots=True)
class Mention:
    """A person @mentioned in the text; the edge writes them into the text as ``<@user_id>``."""

    user_id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class FormValue:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A member said something or pressed a button.

    A button carries the command it stands for in ``text`` (``help checkin``) and any inputs the
    card or modal held in ``form``.
    """

    sender: PlatformUser
    conversation: ConversationAddress
    text: str
    mentions: tuple[Mention, ...] = ()
    form: tuple[FormValue, ...] = ()
    event_id: str | None = None
    is_button: bool = False

    @property
    def is_direct(self) -> bool:
        return self.conversation.is_private

    @property
    def is_in_channel(self) -> bool:
        return not self.conversation.is_private

    def form_value(self, name: str) -> str | None:
        for item in self.form:
            if item.name == name:
                return item.value
        return None


@dataclass(frozen=True, slots=True)
class MembersJoined:
    """The bot was installed somewhere, or people joined a conversation the bot is in."""

    conversation: ConversationAddress
    members: tuple[PlatformUser, ...]
    bot_added: bool = False
    event_id: str | None = None
