"""What arrives from a platform, once the edge has parsed it. Nothing here is a raw payload."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
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


# -- what the database can keep -----------------------------------------------------------------
# The widths of the columns these land in (storage/models.py). A platform never sends longer ids;
# something pretending to be one might, and PostgreSQL refuses a value wider than its column.
MAX_USER_ID = 200
MAX_TENANT_ID = 100
MAX_CONVERSATION_ID = 400
MAX_DISPLAY_NAME = 200
MAX_EVENT_ID = 200
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` as a database can keep it: PostgreSQL refuses NUL, and a lone surrogate (valid in
    JSON as ``\\ud800``) is not UTF-8 at all. NUL goes; a lone surrogate becomes U+FFFD. What
    is no string at all (a hostile payload's number or list) is as good as empty."""
    if not isinstance(text, str):
        return ""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda match: "" if match.group() == "\x00" else "\ufffd", text)


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): _storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable_json(item) for item in value]
    return value


def _name(text: str) -> str:
    text = storable(text)
    return text if len(text) <= MAX_DISPLAY_NAME else text[: MAX_DISPLAY_NAME - 1] + "…"


def _event_id(event_id: str | None) -> str | None:
    if not isinstance(event_id, str):
        return None  # none, or no string at all
    if len(event_id) <= MAX_EVENT_ID:
        return storable(event_id)
    # Still one key per event, so a retry is still recognised.
    return "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


def _user(user: PlatformUser) -> PlatformUser | None:
    if not isinstance(user.user_id, str) or not isinstance(user.tenant_id, str):
        return None  # a payload whose ids are no strings names nobody
    if len(user.user_id) > MAX_USER_ID or len(user.tenant_id) > MAX_TENANT_ID:
        return None
    return replace(
        user,
        tenant_id=storable(user.tenant_id),
        user_id=storable(user.user_id),
        display_name=_name(user.display_name),
    )


def _address(address: ConversationAddress) -> ConversationAddress | None:
    if not isinstance(address.conversation_id, str) or not isinstance(address.tenant_id, str):
        return None
    if len(address.conversation_id) > MAX_CONVERSATION_ID or len(address.tenant_id) > MAX_TENANT_ID:
        return None
    return replace(
        address,
        tenant_id=storable(address.tenant_id),
        conversation_id=storable(address.conversation_id),
        name=_name(address.name),
        thread_id=None if address.thread_id is None else storable(address.thread_id),
        reference=_storable_json(address.reference),
    )


def bounded_message(message: IncomingMessage) -> IncomingMessage | None:
    """The message with its text storable and its names and event id cut to what is kept; None
    when its sender or conversation has an id longer than any platform gives, or no string."""
    sender, conversation = _user(message.sender), _address(message.conversation)
    if sender is None or conversation is None:
        return None
    return replace(
        message,
        sender=sender,
        conversation=conversation,
        text=storable(message.text),
        mentions=tuple(
            Mention(storable(m.user_id), _name(m.display_name)) for m in message.mentions
        ),
        form=tuple(FormValue(storable(f.name), storable(f.value)) for f in message.form),
        event_id=_event_id(message.event_id),
    )


def bounded_joined(event: MembersJoined) -> MembersJoined | None:
    """The event with what cannot be kept left out: members with overlong ids; None when the
    conversation's id is overlong."""
    conversation = _address(event.conversation)
    if conversation is None:
        return None
    members = tuple(user for user in map(_user, event.members) if user is not None)
    return replace(
        event, conversation=conversation, members=members, event_id=_event_id(event.event_id)
    )
