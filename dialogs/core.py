"""The one entry point every platform calls: a message in, replies out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dialogs import audit, permissions
from dialogs import help as help_
from dialogs.checkins import actions, report_command
from dialogs.checkins import handlers as checkins
from dialogs.directory.handlers import HANDLERS as DIRECTORY
from dialogs.grammar import Role
from dialogs.meetings import handlers as meetings
from dialogs.messages import (
    ConversationAddress,
    IncomingMessage,
    MembersJoined,
    PlatformUser,
    bounded_joined,
    bounded_message,
)
from dialogs.parser import UsageError, parse
from dialogs.practice import digest as practice_digest
from dialogs.practice import handlers as practice
from dialogs.privacy import handlers as privacy
from dialogs.privacy import service as privacy_service
from dialogs.turn import Handler, Partnership, Refusal, Turn
from dialogs.views import Actions, Button, Paragraph, Reply, Tone, View, text_reply
from storage.models import DialogState, Identity, Member
from storage.repositories import Conflict, Sender, Store, UnitOfWork

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
FIRST_COORDINATOR = "first_coordinator"
CONVERSATION_RECHECK = timedelta(minutes=1)
MAX_CONVERSATIONS_SEEN = 10_000
# "Last seen" only orders a member's identities (the most recently active is written to first):
# to the minute is enough, and a busy member's every message then costs no UPDATE (one ORM
# write is about as much CPU as a whole Teams turn; ../shared/PERFORMANCE.md).
LAST_SEEN_GRAIN = timedelta(minutes=1)
UNKNOWABLE = (
    "Sorry, I can't take this message: it names you or this conversation with an id longer "
    "than any Teams or Slack id, so I can't keep track of it."
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_handlers() -> dict[tuple[str, ...], Handler]:
    return {
        ("help",): help_.help_command,
        **audit.HANDLERS,
        **DIRECTORY,
        **checkins.HANDLERS,
        **report_command.HANDLERS,
        **actions.HANDLERS,
        **meetings.HANDLERS,
        **practice.HANDLERS,
        **privacy.HANDLERS,
    }


class Partnerbot:
    """Recognises the member, de-duplicates retries, parses, checks roles, runs the handler, all
    in one transaction: a refused or failed command saves nothing."""

    def __init__(
        self,
        store: Store,
        partnership: Partnership,
        *,
        clock: Clock = utcnow,
        handlers: Mapping[tuple[str, ...], Handler] | None = None,
    ) -> None:
        self._store = store
        self._partnership = partnership
        self._clock = clock
        self._handlers = dict(default_handlers() if handlers is None else handlers)
        self._first_claimed = False  # the first-contact coordinator exists (development)
        # Channels found saved with the reference a message carries, and when: for a minute
        # their messages don't look them up again (only a row already committed is trusted).
        self._conversations_seen: dict[tuple[str, str, str], tuple[datetime, Any]] = {}

    @property
    def store(self) -> Store:
        return self._store

    async def handle(self, message: IncomingMessage) -> Sequence[Reply]:
        bounded = bounded_message(message)
        if bounded is None:
            logger.warning("a %s message with overlong ids was refused", message.sender.platform)
            return (text_reply(UNKNOWABLE, tone=Tone.WARNING),)
        message = bounded
        try:
            return await self._handle(message)
        except Conflict:
            # Someone registered this person (or saw this event) a moment ago: once more,
            # now that their row exists.
            return await self._handle(message)

    async def _handle(self, message: IncomingMessage) -> Sequence[Reply]:
        now = self._clock()
        sender = message.sender
        async with self._store.unit() as uow:
            fresh, known = await uow.members.arrival(
                sender.platform,
                sender.tenant_id,
                sender.user_id,
                event_id=message.event_id or None,
                now=now,
            )
            if not fresh:
                logger.info("duplicate event ignored: %s", sender.platform)
                return ()
            member, state, standing, greeting = await self._recognise(uow, message, known, now)
            await self._remember_conversation(uow, message.conversation, now)
            roles, coordinates, first = await self._roles(
                uow, member, message.sender, now, standing
            )
            if first:
                greeting = (
                    *greeting,
                    text_reply(
                        "You're the first person to talk to this new partnerbot, so you're its "
                        "coordinator. Give others roles with `role <@member> coordinator`, or "
                        "`role <@member> coordinator area=<area>` for one area.",
                        tone=Tone.GOOD,
                    ),
                )
            turn = Turn(uow, message, member, roles, now, self._partnership, coordinates)
            return (*greeting, *await self._dispatch(turn, state))

    async def members_joined(self, event: MembersJoined) -> Sequence[Reply]:
        """Install or join: register the people and the conversation; welcome on install."""
        bounded = bounded_joined(event)
        if bounded is None:
            logger.warning("a %s join with an overlong id was ignored", event.conversation.platform)
            return ()
        event = bounded
        try:
            return await self._members_joined(event)
        except Conflict:
            return await self._members_joined(event)

    async def _members_joined(self, event: MembersJoined) -> Sequence[Reply]:
        now = self._clock()
        async with self._store.unit() as uow:
            if event.event_id and not await uow.inbound_events.first_time(
                event.conversation.platform, event.event_id, now=now
            ):
                return ()
            await self._remember_conversation(uow, event.conversation, now)
            for user in event.members:
                identity = await uow.members.identity(user.platform, user.tenant_id, user.user_id)
                if identity is None:
                    _, identity = await uow.members.register(
                        platform=user.platform,
                        tenant_id=user.tenant_id,
                        user_id=user.user_id,
                        display_name=user.display_name,
                        now=now,
                    )
                if event.conversation.is_private:
                    _remember_private_chat(identity, event.conversation)
        if not event.bot_added:
            return ()
        return (
            Reply(
                View(
                    summary="Hello! I'm partnerbot. Type `help` to see what I can do.",
                    blocks=(
                        Paragraph(
                            "Hello! I'm partnerbot, this partnership's assistant for "
                            "evaluation check-ins, forum meetings and shared practice."
                        ),
                        Actions((Button("Help", "help"), Button("My profile", "me"))),
                    ),
                )
            ),
        )

    async def _recognise(
        self, uow: UnitOfWork, message: IncomingMessage, known: Sender | None, now: datetime
    ) -> tuple[
        Member, DialogState | None, tuple[frozenset[str], frozenset[int]], tuple[Reply, ...]
    ]:
        """The sender's member row (``known``, or registered now if new), dialog state, roles
        and areas."""
        sender = message.sender
        greeting: tuple[Reply, ...] = ()
        state = None
        standing: tuple[frozenset[str], frozenset[int]] = (frozenset(), frozenset())
        if known is None:
            member, identity = await uow.members.register(
                platform=sender.platform,
                tenant_id=sender.tenant_id,
                user_id=sender.user_id,
                display_name=sender.display_name,
                now=now,
            )
            greeting = (
                text_reply(
                    f"Welcome, {member.display_name}! You're now a member of this partnership. "
                    "Tell me your area with `me area <area>`, or type `help`."
                ),
            )
        else:
            identity, member, state = known.identity, known.member, known.dialog_state
            standing = (known.roles, known.areas)
            if sender.display_name and identity.display_name != sender.display_name:
                identity.display_name = sender.display_name
            if sender.display_name and member.display_name == sender.user_id:
                # Registered from an install or join that carried no name: now we know it.
                member.display_name = sender.display_name
        if message.conversation.is_private:
            _remember_private_chat(identity, message.conversation)
            if identity.unreachable_at is not None:
                # They wrote to the bot: whatever blocked sending to them is over.
                identity.unreachable_at = identity.unreachable_reason = None
        if identity.last_seen_at is None or now - identity.last_seen_at >= LAST_SEEN_GRAIN:
            identity.last_seen_at = now
        return member, state, standing, greeting

    async def _remember_conversation(
        self, uow: UnitOfWork, address: ConversationAddress, now: datetime
    ) -> None:
        if address.is_private:
            return
        key = (address.platform, address.tenant_id, address.conversation_id)
        seen = self._conversations_seen.get(key)
        if (
            seen is not None
            and now - seen[0] < CONVERSATION_RECHECK
            and (not address.reference or seen[1] == address.reference)
        ):
            return  # saved as it is, a moment ago: every message in a channel would ask again
        known = await uow.conversations.find(
            address.platform, address.tenant_id, address.conversation_id
        )
        if known is not None and (
            not address.reference or known.conversation_reference == address.reference
        ):
            if len(self._conversations_seen) >= MAX_CONVERSATIONS_SEEN:
                self._conversations_seen.clear()
            self._conversations_seen[key] = (now, known.conversation_reference)
        else:
            await uow.conversations.remember(
                platform=address.platform,
                tenant_id=address.tenant_id,
                conversation_id=address.conversation_id,
                kind=address.kind,
                name=address.name,
                reference=address.reference,
                now=now,
            )

    async def _roles(
        self,
        uow: UnitOfWork,
        member: Member,
        sender: PlatformUser,
        now: datetime,
        standing: tuple[frozenset[str], frozenset[int]],
    ) -> tuple[frozenset[str], frozenset[int], bool]:
        """The member's roles and the areas they coordinate (``standing``, read with their
        row), appointing a partnership coordinator from the admins list, or (development, no
        admins) the first person ever to talk to the bot. True when that just happened."""
        roles, areas = standing
        if Role.COORDINATOR in roles:
            return roles, areas, False
        coordinator = roles | {Role.COORDINATOR.value}
        if sender.user_id in self._partnership.admins:
            await uow.members.grant(member.id, Role.COORDINATOR, now=now)
            return coordinator, areas, False
        if not self._partnership.first_contact_becomes_coordinator or self._first_claimed:
            return roles, areas, False
        if await uow.meta.claim(FIRST_COORDINATOR, str(member.id)):
            await uow.members.grant(member.id, Role.COORDINATOR, now=now)
            return coordinator, areas, True
        # Somebody was first, for good: no turn of this process needs to try again (a write).
        self._first_claimed = True
        return roles, areas, False

    async def run_jobs(self, now: datetime) -> None:
        """The periodic work the scheduler wakes: close check-ins whose time is up, nudge those
        who haven't finished one, forget report downloads whose link has expired, and (once a
        day) answers past the retention period."""
        async with self._store.unit() as uow:
            await checkins.close_due(uow, now)
            await checkins.queue_nudges(
                uow,
                now,
                frameworks=self._partnership.frameworks,
                default_zone=self._partnership.timezone,
            )
            await meetings.warn_cadence(uow, now, default_zone=self._partnership.timezone)
            await practice_digest.queue_digests(uow, now, default_zone=self._partnership.timezone)
            await uow.exports.purge(now)
            await privacy_service.apply_retention(
                uow, now, months=self._partnership.retention_months
            )

    async def download(self, token: str) -> report_command.Download | None:
        """A report export by its link token, while the link is alive."""
        async with self._store.unit() as uow:
            return await report_command.fetch_download(uow, token, self._clock())

    async def _dispatch(self, turn: Turn, state: DialogState | None) -> Sequence[Reply]:
        # A flow waiting for typed answers (a check-in question) gets the text first (the
        # state came with the sender's row).
        direct_text = turn.message.is_direct and not turn.message.is_button
        if direct_text and state is not None and state.flow == checkins.FLOW:
            try:
                async with turn.uow.session.begin_nested():
                    replies = await checkins.typed(turn, state)
            except Refusal as refusal:
                return (text_reply(str(refusal), tone=Tone.WARNING),)
            if replies is not None:
                return replies
        try:
            command = parse(turn.message.text)
        except UsageError as error:
            return (usage_reply(error),)
        # The command's name only: its arguments can be what a member wrote.
        logger.debug("command %s on %s", command.name, turn.message.conversation.platform)
        if not permissions.may_run(command.spec, turn.roles, turn.coordinates):
            return (text_reply(await permissions.refused(turn, command.spec), tone=Tone.WARNING),)
        handler = self._handlers.get(command.spec.path)
        if handler is None:
            return (
                text_reply(
                    f"`{command.name}` is part of partnerbot's design but isn't switched on "
                    "in this version yet.",
                    tone=Tone.MUTED,
                ),
            )
        try:
            if command.spec.refuses_before_writing:
                return await handler(turn, command)
            # A savepoint: a refusal undoes the command's writes, not the member's registration.
            async with turn.uow.session.begin_nested():
                return await handler(turn, command)
        except Refusal as refusal:
            return (text_reply(str(refusal), tone=Tone.WARNING),)
        except UsageError as error:
            # Input the grammar lets through but the command can't take (too long, say).
            return (usage_reply(error),)


def usage_reply(error: UsageError) -> Reply:
    blocks: list = [Paragraph(f"Sorry, {error.problem}", Tone.WARNING)]
    summary = f"Sorry, {error.problem}"
    if error.usage:
        blocks.append(Paragraph(f"Usage: {error.usage}", Tone.MUTED))
        summary += f" Usage: {error.usage}"
    blocks.append(Actions((Button("Help", "help"),)))
    return Reply(View(summary=summary, blocks=tuple(blocks)))


def _remember_private_chat(identity: Identity, address: ConversationAddress) -> None:
    if address.reference is not None and identity.conversation_reference != address.reference:
        identity.conversation_reference = address.reference
    if identity.dm_channel_id != address.conversation_id:
        identity.dm_channel_id = address.conversation_id
