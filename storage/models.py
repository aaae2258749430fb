"""The schema. Every change here is an Alembic migration too (tests check they agree)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that Alembic's autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store times as aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Lower-cased name: areas are found case-insensitively and are unique that way.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Identity(Base):
    """A member as one platform knows them. A member may have several (Teams and Slack)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    # Teams tenant id, Slack team (workspace) id, or "" for the console.
    tenant_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Where to reach the member privately: a serialised Teams ConversationReference for their
    # personal chat, or a Slack DM channel id.
    conversation_reference: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dm_channel_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the platform said "stop" (blocked, uninstalled, account inactive); cleared when
    # the member talks to the bot again.
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))


class Role(Base):
    __tablename__ = "roles"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AreaCoordinator(Base):
    """A coordinator of one area (a member may coordinate several). A ``coordinator`` row in
    ``roles`` is a partnership coordinator, who coordinates every area."""

    __tablename__ = "area_coordinators"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Expertise(Base):
    __tablename__ = "expertise"
    __table_args__ = (UniqueConstraint("member_id", "topic_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    topic_key: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """A chat the bot is in: a channel, a group chat or a personal chat."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "tenant_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[str] = mapped_column(String(100))
    conversation_id: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    area_id: Mapped[int | None] = mapped_column(
        ForeignKey("areas.id", ondelete="SET NULL"), index=True
    )
    conversation_reference: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))


class DialogState(Base):
    """Where one member is in a multi-step flow; saved with the answers it produced."""

    __tablename__ = "dialog_states"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[str] = mapped_column(String(50))
    step: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """Inbound events already handled, so a platform's retry does nothing twice."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Meta(Base):
    """Facts about this installation (e.g. that the first coordinator has been appointed)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class OutboxMessage(Base):
    """One message the bot sends on its own: a row before it is sent, so nothing is lost and
    nothing is sent twice. ``key`` makes queuing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    view: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime]
    # Past this moment the message is pointless (a reminder for a meeting that has started):
    # it is skipped, with the reason, instead of sent.
    not_after: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lock(Base):
    """A named lease between processes (on SQLite, only one dispatcher may claim)."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class PacingKey(Base):
    """One pacing key's recent sends (a Slack channel, a Teams conversation, an app in a
    tenant), shared by every dispatcher on the database: a dispatcher locks the row, checks
    the platform's windows against ``sent`` and appends to it in one transaction, so replicas
    together keep to the limits. ``sent`` holds microseconds since the Unix epoch (UTC), only
    as many as the windows need; ``blocked_until`` is a 429's Retry-After."""

    __tablename__ = "pacing_keys"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    sent: Mapped[list[int]] = mapped_column(JSON, default=list)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class Cycle(Base):
    """One run of a self-evaluation framework: some of its questions, for some areas."""

    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    framework_key: Mapped[str] = mapped_column(String(40), index=True)
    questions: Mapped[list[int]] = mapped_column(JSON)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    min_respondents: Mapped[int] = mapped_column(Integer, default=5)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    # When the retention period took the names and the written answers out of this closed
    # cycle (only the ratings stay, unnamed); None while they are kept.
    answers_expired_at: Mapped[datetime | None]


class CycleArea(Base):
    __tablename__ = "cycle_areas"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    )


class Participant(Base):
    """Who was asked and how far they got: "has responded" is kept here, apart from answers,
    so that in anonymous cycles nothing links a person to what they wrote."""

    __tablename__ = "cycle_participants"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    # The question numbers answered or skipped so far (for resuming), not what was said.
    answered: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="invited")
    invited_at: Mapped[datetime]


class Response(Base):
    """A named answer: one member's rating and reflections on one question of a cycle."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("cycle_id", "member_id", "question"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    question: Mapped[int] = mapped_column(Integer)
    rating: Mapped[int | None] = mapped_column(Integer)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AnonymousResponse(Base):
    """An answer in an anonymous cycle. No column leads back to a person: no member, no
    participant, a random id (no sequence to line up with progress), and the day only."""

    __tablename__ = "anonymous_responses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    question: Mapped[int] = mapped_column(Integer)
    rating: Mapped[int | None] = mapped_column(Integer)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_on: Mapped[date] = mapped_column(Date)


class UnnamedParticipant(Base):
    """Someone who was asked in a check-in, once nothing may say who: they erased their data
    (their anonymous answers stay, so their place in the response counts stays too), or the
    retention period ended the cycle's names. A random id, as for anonymous answers."""

    __tablename__ = "unnamed_participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10))
    # How many questions they had answered or skipped: a count, never which or what.
    answered: Mapped[int] = mapped_column(Integer, default=0)


class Export(Base):
    """A file someone asked for (a report, or a member's copy of their own data), fetched by an
    unguessable link that expires."""

    __tablename__ = "exports"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ActionItem(Base):
    """An improvement priority turned into something someone will do, by a date."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="SET NULL"))
    question: Mapped[int | None] = mapped_column(Integer)
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class Meeting(Base):
    """One forum meeting. A series is several rows sharing ``series_id`` (the first one's id),
    each with its own RSVPs, reminders and attendance. Times are UTC; ``timezone`` is the zone
    the meeting was set in, which decides its local date and time."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int | None] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(200))
    # None: a partnership-wide meeting, for every area.
    area_id: Mapped[int | None] = mapped_column(
        ForeignKey("areas.id", ondelete="SET NULL"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(500), default="")
    agenda: Mapped[list[str]] = mapped_column(JSON, default=list)
    repeat: Mapped[str | None] = mapped_column(String(20))
    # In a series, the start its rule gave this meeting (its RECURRENCE-ID in calendars), kept
    # when the meeting is moved.
    occurrence_at: Mapped[datetime | None]
    # Minutes before the start at which reminders go out.
    remind_minutes: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="scheduled", index=True)
    # Bumped on every change, so that re-queued reminders get new outbox keys.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    ics_token: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class MeetingRsvp(Base):
    __tablename__ = "meeting_rsvps"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    answer: Mapped[str] = mapped_column(String(10))
    # Bumped on every change, so that re-queued reminders get new outbox keys.
    version: Mapped[int] = mapped_column(Integer, default=1)
    answered_at: Mapped[datetime]


class MeetingAttendance(Base):
    """Who was there. Area and organisation are copied at check-in, so the counts of a past
    meeting don't move when someone changes area later."""

    __tablename__ = "meeting_attendance"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    attended_at: Mapped[datetime]


class UnnamedAttendance(Base):
    """An attendance whose person has since erased their data: the meeting's counts by area and
    organisation ("18 partners attended") stay as they were reported, with nobody named."""

    __tablename__ = "unnamed_attendance"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )


class MeetingInvitation(Base):
    """An organisation from the directory invited to a meeting (current or past partner)."""

    __tablename__ = "meeting_invitations"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    invited_at: Mapped[datetime]


class PracticeRecord(Base):
    """A piece of shared practice: an idea, a story, a resource or a document. A record saved
    from a chat message starts as a draft, with the message's author, link and time. Full-text
    search covers title, tags and body (the index is in migration 0005; storage/practice.py)."""

    __tablename__ = "practice_records"
    __table_args__ = (Index("ix_practice_records_status_published_at", "status", "published_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12))
    # The record's tags, space-separated, so the full-text index can cover them.
    tag_text: Mapped[str] = mapped_column(String(500), default="")
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    # None: for the whole partnership.
    area_id: Mapped[int | None] = mapped_column(
        ForeignKey("areas.id", ondelete="SET NULL"), index=True
    )
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # Saved from a chat message: who wrote it there, where it is, and when.
    source_author: Mapped[str | None] = mapped_column(String(200))
    source_url: Mapped[str | None] = mapped_column(String(1000))
    source_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class PracticeTag(Base):
    """One tag of one record, for browsing and filtering by tag."""

    __tablename__ = "practice_record_tags"

    record_id: Mapped[int] = mapped_column(
        ForeignKey("practice_records.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class PracticeTagName(Base):
    """A tag coordinators added to the vocabulary, beyond the built-in ones."""

    __tablename__ = "practice_tag_names"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class AuditEvent(Base):
    """Something a coordinator (or the bot on their behalf) did that others may need to account
    for: a cycle opened or closed, a role changed, a report exported, data erased. What it was
    about is in ``subject`` and ``detail`` - never answer text."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # The actor's name as it was, so the trail still reads after their data is erased.
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# -- Slack installations (OAuth): the columns of slack_sdk's SQLAlchemy installation and state
# stores, whose rows bot/slack_install.py reads and writes. Every token column holds Fernet
# ciphertext, never a token (hence Text: ciphertext is longer than the token), and times are
# aware UTC like everywhere else.


class SlackWorkspaceBot:
    """The columns slack_sdk's installations and bots tables share: the app, the workspace (or
    org), and the bot's token."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token: Mapped[str | None] = mapped_column(Text)
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token: Mapped[str | None] = mapped_column(Text)
    bot_token_expires_at: Mapped[datetime | None]
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackInstallation(SlackWorkspaceBot, Base):
    """One completed installation of the app into a workspace (or an org), by one person."""

    __tablename__ = "slack_installations"
    __table_args__ = (
        Index(
            "ix_slack_installations_lookup",
            "client_id",
            "enterprise_id",
            "team_id",
            "user_id",
            "installed_at",
        ),
    )

    enterprise_url: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(32))
    user_token: Mapped[str | None] = mapped_column(Text)
    user_scopes: Mapped[str | None] = mapped_column(String(1000))
    user_refresh_token: Mapped[str | None] = mapped_column(Text)
    user_token_expires_at: Mapped[datetime | None]
    incoming_webhook_url: Mapped[str | None] = mapped_column(Text)
    incoming_webhook_channel: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_channel_id: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_configuration_url: Mapped[str | None] = mapped_column(String(200))
    token_type: Mapped[str | None] = mapped_column(String(32))


class SlackBot(SlackWorkspaceBot, Base):
    """The bot token of a workspace (or an org), as its latest installation left it."""

    __tablename__ = "slack_bots"
    __table_args__ = (
        Index("ix_slack_bots_lookup", "client_id", "enterprise_id", "team_id", "installed_at"),
    )


class SlackOAuthState(Base):
    """The state of an installation begun at /slack/install: it must come back, once, before it
    expires, from the browser that began it (bolt also checks the cookie)."""

    __tablename__ = "slack_oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(200), unique=True)
    expire_at: Mapped[datetime] = mapped_column(index=True)


class Risk(Base):
    """A risk to delivery a member reported, sent to the programme managers. The reporter is
    cleared when they erase their data; the risk stays on the programme's record."""

    __tablename__ = "risks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    # The reporter's area when they reported it.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
