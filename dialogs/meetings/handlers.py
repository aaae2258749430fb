"""Meeting commands: schedule and announce, RSVP, remind, change or cancel, take attendance,
keep each area to its cadence."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dialogs import permissions
from dialogs.checkins.handlers import zone_of
from dialogs.directory.handlers import resolve_member
from dialogs.grammar import Role
from dialogs.meetings import times, views
from dialogs.outbox import Kind, ToConversation, ToMember, cancel, queue
from dialogs.parser import Command
from dialogs.turn import Refusal, Turn
from dialogs.views import (
    BulletList,
    Facts,
    Heading,
    Paragraph,
    Reply,
    Tone,
    View,
    text_reply,
)
from storage.meetings import CANCELLED, SCHEDULED
from storage.models import Area, Export, Meeting, Member
from storage.repositories import UnitOfWork

MAX_TITLE = 200
MAX_PLACE = 500
# Members check in from a little before the start until the end.
CHECK_IN_EARLY = timedelta(minutes=15)
# Later meetings of a series are announced again this long before they start.
ANNOUNCE_AHEAD = timedelta(days=28)
ICS_KEPT_AFTER = timedelta(days=30)
# The default cadence: each area meets at least twice a year.
CADENCE = timedelta(days=365) / 2
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"


# -- helpers ---------------------------------------------------------------------------------


def _prefix(meeting_id: int) -> str:
    return f"meeting:{meeting_id}:"


def _reminder_prefix(meeting_id: int, member_id: int | None = None) -> str:
    who = "" if member_id is None else f"m{member_id}:"
    return f"meeting:{meeting_id}:remind:{who}"


async def _meeting(turn: Turn, meeting_id: int) -> Meeting:
    meeting = await turn.uow.meetings.get(meeting_id)
    if meeting is None:
        raise Refusal(f"There's no meeting {meeting_id}. See `meetings` for what's coming up.")
    return meeting


def _scheduled(meeting: Meeting) -> None:
    if meeting.status == CANCELLED:
        raise Refusal(f"Meeting {meeting.id} ({meeting.title}) was cancelled.")


async def _area_name(uow: UnitOfWork, meeting: Meeting) -> str | None:
    if meeting.area_id is None:
        return None
    area = await uow.areas.get(meeting.area_id)
    return area.name if area else None


def _ics_url(public_url: str, meeting: Meeting) -> str | None:
    if meeting.ics_token is None:
        return None
    return f"{public_url}/exports/{meeting.ics_token}"


async def _store_ics(
    uow: UnitOfWork,
    meetings: Sequence[Meeting],
    *,
    series: bool,
    now: datetime,
    update: bool = False,
) -> str:
    """The .ics of a meeting (or of a whole series, with its RRULE), downloadable until a
    while after the last one ends. An update (a change or a cancellation) carries the UID the
    first invite had and the meeting's revision as its SEQUENCE; one meeting of a series is
    that occurrence of the series' event."""
    first = meetings[0]
    uid = f"meeting-{first.series_id or first.id}@partnerbot"
    occurrence = None
    if first.series_id is not None and not series:
        occurrence = first.occurrence_at
        if occurrence is None:
            # Scheduled before meetings kept their occurrence: a calendar can't be told which
            # one of the series this is, so it gets an event of its own.
            uid = f"meeting-{first.series_id}-{first.id}@partnerbot"
    invite = times.Invite(
        uid=uid,
        title=first.title,
        starts_at=first.starts_at,
        ends_at=first.ends_at,
        zone=first.timezone,
        place=first.place,
        agenda=tuple(first.agenda),
        repeat=first.repeat if series else None,
        sequence=first.revision,
        cancelled=first.status == CANCELLED,
        update=update,
        recurrence_id=occurrence,
    )
    export = Export(
        token=secrets.token_urlsafe(32),
        member_id=None,
        filename=f"meeting-{first.id}.ics",
        media_type=ICS_MEDIA_TYPE,
        data=times.ics(invite, now=now),
        created_at=now,
        expires_at=max(m.ends_at for m in meetings) + ICS_KEPT_AFTER,
    )
    await uow.exports.add(export)
    for meeting in meetings:
        meeting.ics_token = export.token
    return export.token


async def _announce(
    turn: Turn,
    meeting: Meeting,
    *,
    heading: str,
    series: Sequence[Meeting] = (),
    due_at: datetime | None = None,
) -> int:
    """Queue the announcement in every channel of the meeting's area, on every platform."""
    uow = turn.uow
    area = await _area_name(uow, meeting)
    channels = await uow.meetings.channels(meeting.area_id)
    view = views.announcement(
        meeting,
        zone=meeting.timezone,
        area=area,
        counts=await uow.meetings.rsvp_counts(meeting.id),
        ics_url=_ics_url(turn.partnership.public_url, meeting),
        series=series,
        heading=heading,
    )
    for conversation in channels:
        await queue(
            uow,
            key=f"{_prefix(meeting.id)}announce:c{conversation.id}:r{meeting.revision}",
            kind=Kind.MEETING_ANNOUNCEMENT,
            to=ToConversation(conversation.id),
            view=view,
            due_at=due_at or turn.now,
            now=turn.now,
            not_after=meeting.starts_at,
        )
    return len(channels)


async def _queue_reminders(
    uow: UnitOfWork,
    meeting: Meeting,
    member: Member,
    *,
    version: int,
    default_zone: str,
    now: datetime,
) -> int:
    """Queue a member's reminders for the meeting, each shown in their own zone, and the
    check-in message at its start. Pending ones are cancelled first, so each goes out once
    whatever changed in between. Returns how many reminders (before the start) were queued."""
    await cancel(uow, _reminder_prefix(meeting.id, member.id))
    zone = await zone_of(uow, member, default_zone)
    queued = 0
    for minutes in meeting.remind_minutes:
        before = timedelta(minutes=minutes)
        due = times.reminder_at(meeting.starts_at, before, meeting.timezone)
        if due <= now:
            continue
        await queue(
            uow,
            key=f"{_reminder_prefix(meeting.id, member.id)}r{meeting.revision}v{version}:"
            f"{minutes}m",
            kind=Kind.MEETING_REMINDER,
            to=ToMember(member.id),
            view=views.reminder(meeting, zone=zone, before=before),
            due_at=due,
            now=now,
            not_after=meeting.starts_at,
        )
        queued += 1
    # And at the start, the button to check in with, while the meeting is on.
    if meeting.ends_at > now:
        await queue(
            uow,
            key=f"{_reminder_prefix(meeting.id, member.id)}r{meeting.revision}v{version}:start",
            kind=Kind.MEETING_REMINDER,
            to=ToMember(member.id),
            view=views.starting(meeting, zone=zone, late=meeting.starts_at < now),
            due_at=max(meeting.starts_at, now),
            now=now,
            not_after=meeting.ends_at,
        )
    return queued


async def member_moved(
    uow: UnitOfWork,
    member: Member,
    *,
    left: int | None,
    default_zone: str,
    now: datetime,
) -> int:
    """A member changed area: reminders for the new area's upcoming meetings (they haven't
    answered yet), and none any more for the old area's meetings they never answered."""
    queued = 0
    for meeting in await uow.meetings.upcoming(now, limit=100):
        if meeting.area_id is None or meeting.area_id not in (left, member.area_id):
            continue
        if await uow.meetings.rsvp_of(meeting.id, member.id) is not None:
            continue  # they answered: their answer decides
        if meeting.area_id == member.area_id:
            queued += await _queue_reminders(
                uow, meeting, member, version=0, default_zone=default_zone, now=now
            )
        else:
            await cancel(uow, _reminder_prefix(meeting.id, member.id))
    return queued


async def _remind_audience(
    uow: UnitOfWork, meeting: Meeting, *, default_zone: str, now: datetime
) -> int:
    """Reminders for everyone the meeting is for, except those who said they can't come."""
    reminded = 0
    for member in await uow.meetings.audience(meeting):
        rsvp = await uow.meetings.rsvp_of(meeting.id, member.id)
        if rsvp is not None and rsvp.answer == "no":
            continue
        await _queue_reminders(
            uow,
            meeting,
            member,
            version=rsvp.version if rsvp else 0,
            default_zone=default_zone,
            now=now,
        )
        reminded += 1
    return reminded


async def _tell_those_going(
    turn: Turn, meeting: Meeting, *, key: str, make: Callable[[str], View]
) -> int:
    """Tell everyone who said they're going (or might) about a change, in their own zone."""
    told = 0
    for rsvp, member in await turn.uow.meetings.rsvps(meeting.id):
        if rsvp.answer == "no":
            continue
        zone = await zone_of(turn.uow, member, turn.partnership.timezone)
        await queue(
            turn.uow,
            key=f"{_prefix(meeting.id)}{key}:m{member.id}",
            kind=Kind.MEETING_CHANGE,
            to=ToMember(member.id),
            view=make(zone),
            due_at=turn.now,
            now=turn.now,
        )
        told += 1
    return told


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- scheduling ------------------------------------------------------------------------------


async def _areas_for(turn: Turn, wanted: tuple[str, ...] | None) -> list[Area | None]:
    """The areas named (None for a partnership-wide meeting). Without area=, the coordinator's
    own area, else the whole partnership."""
    uow = turn.uow
    if wanted is None:
        if turn.member.area_id is not None:
            return [await uow.areas.get(turn.member.area_id)]
        return [None]
    if [w.casefold() for w in wanted] == ["all"]:
        return [None]
    found: list[Area | None] = []
    missing = []
    for name in wanted:
        area = await uow.areas.by_name(name)
        if area is None:
            missing.append(name)
        else:
            found.append(area)
    if missing:
        known = ", ".join(a.name for a in await uow.areas.all()) or "none yet"
        raise Refusal(f"There's no area called {', '.join(missing)}. Areas: {known}.")
    return found


async def schedule(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    title = " ".join(command.get("title").split())
    if not title:
        raise Refusal('The meeting needs a title: meeting schedule "<title>" <date> <time>.')
    if len(title) > MAX_TITLE:
        raise Refusal(f"That title is too long ({len(title)} characters; the most is {MAX_TITLE}).")
    place = " ".join((command.get("where") or "").split())
    if len(place) > MAX_PLACE:
        raise Refusal(f"That place is too long ({len(place)} characters; the most is {MAX_PLACE}).")
    repeat = command.get("repeat")
    duration = command.get("duration") or times.DEFAULT_DURATION
    offsets = command.get("remind")
    offsets = times.DEFAULT_REMINDERS if offsets is None else offsets
    areas = await _areas_for(turn, command.get("area"))
    await permissions.require_areas(
        turn,
        [area.id if area else permissions.WHOLE_PARTNERSHIP for area in areas],
        what="schedule a meeting for "
        + ", ".join(area.name if area else "every area" for area in areas),
    )
    replies: list[Reply] = []
    for area in areas:
        zone = (area.timezone if area and area.timezone else None) or await turn.zone_name()
        walls = times.occurrences(command.get("date"), command.get("time"), repeat)
        starts = []
        for number, wall in enumerate(walls, start=1):
            try:
                moment = times.to_utc(wall, zone)
            except times.NotALocalTime:
                which = "" if len(walls) == 1 else f"meeting {number} of the series, "
                raise Refusal(
                    f"{wall:%H:%M} on {wall:%d %b %Y} doesn't exist in {zone}: the clocks go "
                    f"forward then ({which}pick another time)."
                ) from None
            starts.append(moment)
        if starts[0] <= turn.now:
            raise Refusal(
                f"{walls[0]:%a %d %b %Y %H:%M} ({zone}) is in the past: "
                f"it's now {times.local(turn.now, zone)} there."
            )
        series: list[Meeting] = []
        for start in starts:
            meeting = await uow.meetings.add(
                Meeting(
                    title=title,
                    area_id=area.id if area else None,
                    starts_at=start,
                    ends_at=start + duration,
                    timezone=zone,
                    place=place,
                    agenda=list(views.DEFAULT_AGENDA),
                    repeat=repeat,
                    occurrence_at=start if repeat is not None else None,
                    remind_minutes=[int(o.total_seconds() // 60) for o in offsets],
                    status=SCHEDULED,
                    revision=0,
                    created_by_id=turn.member.id,
                    created_at=turn.now,
                )
            )
            series.append(meeting)
        if repeat is not None:
            for meeting in series:
                meeting.series_id = series[0].id
        await _store_ics(uow, series, series=repeat is not None, now=turn.now)
        channels = await _announce(turn, series[0], heading="Forum meeting", series=series)
        for later in series[1:]:
            await _announce(
                turn,
                later,
                heading="Forum meeting",
                due_at=max(turn.now, later.starts_at - ANNOUNCE_AHEAD),
            )
        reminded = 0
        for meeting in series:
            reminded = await _remind_audience(
                uow, meeting, default_zone=turn.partnership.timezone, now=turn.now
            )
        first = series[0]
        where = area.name if area else "the whole partnership"
        lines = [
            f"Scheduled {title} (meeting {first.id}) for {where}: "
            f"{times.local(first.starts_at, zone)} ({zone})."
        ]
        if len(series) > 1:
            lines.append(
                f"A series, {times.REPEATS[repeat].words}: meetings "
                f"{', '.join(str(m.id) for m in series)}."
            )
        if channels:
            lines.append(f"Announcing it in {_plural(channels, 'channel')}.")
        else:
            lines.append(
                f"No channel is linked to {where} yet, so here is the announcement to share; "
                "link one by typing `area channel <area>` in it."
            )
        if first.remind_minutes:
            lines.append(
                "Reminders "
                + ", ".join(times.offset_words(timedelta(minutes=m)) for m in first.remind_minutes)
                + f" before, to {_plural(reminded, 'member')} unless they can't come."
            )
        replies.append(text_reply(" ".join(lines), tone=Tone.GOOD, private=bool(channels)))
        if not channels:
            replies.append(
                Reply(
                    views.announcement(
                        first,
                        zone=zone,
                        area=area.name if area else None,
                        counts={},
                        ics_url=_ics_url(turn.partnership.public_url, first),
                        series=series,
                    )
                )
            )
    return replies


# -- looking ---------------------------------------------------------------------------------


async def show(turn: Turn, command: Command) -> Sequence[Reply]:
    meeting = await _meeting(turn, command.get("id"))
    zone = await turn.zone_name()
    series = (
        await turn.uow.meetings.in_series(meeting.series_id) if meeting.series_id else [meeting]
    )
    heading = "Cancelled meeting" if meeting.status == CANCELLED else "Forum meeting"
    view = views.announcement(
        meeting,
        zone=zone,
        area=await _area_name(turn.uow, meeting),
        counts=await turn.uow.meetings.rsvp_counts(meeting.id),
        ics_url=_ics_url(turn.partnership.public_url, meeting),
        series=series,
        heading=heading,
    )
    if turn.is_coordinator:
        warning = await _unreachable_note(turn.uow, meeting)
        if warning:
            view = View(view.summary, (*view.blocks, Paragraph(warning, Tone.WARNING)))
    return (Reply(view),)


async def _unreachable_note(uow: UnitOfWork, meeting: Meeting) -> str | None:
    """For coordinators: the meeting's channels and members the platforms refused messages to
    (the delivery engine marks them), so nobody counts on an announcement or reminder that
    could not arrive."""
    channels = [
        c.name or c.conversation_id
        for c in await uow.conversations.unreachable()
        if meeting.area_id is None or c.area_id == meeting.area_id
    ]
    members = [
        m.display_name
        for m, _ in await uow.members.unreachable()
        if meeting.area_id is None or m.area_id == meeting.area_id
    ]
    parts = []
    if channels:
        parts.append("channels " + ", ".join(sorted(set(channels))))
    if members:
        parts.append("members " + ", ".join(sorted(set(members))))
    if not parts:
        return None
    return "Can't be reached (the platform refused messages): " + "; ".join(parts) + "."


CADENCE_LEAD = timedelta(days=183)
AREA_CADENCE = 2  # meetings a year an area needs, unless a coordinator says otherwise
PARTNERSHIP_CADENCE = 1  # and the whole partnership: a yearly partnership-wide forum


def _cadence_key(area: Area | None) -> str:
    return f"meeting-cadence:area:{area.id}" if area is not None else "meeting-cadence:all"


async def cadence_of(uow: UnitOfWork, area: Area | None) -> int:
    """Meetings a year needed (0: no cadence kept)."""
    stored = await uow.meta.get(_cadence_key(area))
    if stored is None:
        return AREA_CADENCE if area is not None else PARTNERSHIP_CADENCE
    return int(stored)


def cadence_text(per_year: int) -> str:
    if per_year == 0:
        return "no cadence"
    return {1: "once a year", 2: "twice a year"}.get(per_year, f"{per_year} times a year")


async def standing(
    uow: UnitOfWork, area: Area | None, now: datetime
) -> tuple[bool, datetime, str | None, Meeting | None] | None:
    """Whether an area (None: the whole partnership, counting partnership-wide meetings only)
    keeps its cadence: (on track, next meeting needed by, last met, next); None when it keeps
    none. The next meeting is needed a cadence after the last one (or after the area was added);
    an area that is already late is back on track as soon as a meeting is scheduled."""
    per_year = await cadence_of(uow, area)
    if per_year == 0:
        return None
    area_id = area.id if area is not None else None
    last = await uow.meetings.last_held(area_id, now)
    upcoming = await uow.meetings.next_scheduled(area_id, now)
    if last is not None:
        since = last.starts_at
    elif area is not None:
        since = area.created_at
    else:
        since = min((a.created_at for a in await uow.areas.all()), default=now)
    needed_by = since + timedelta(days=365) / per_year
    # Far off (a yearly forum eleven months away) is not behind yet: nobody is warned before
    # the last six months.
    on_track = (upcoming is not None and (upcoming.starts_at <= needed_by or needed_by <= now)) or (
        upcoming is None and needed_by > now + CADENCE_LEAD
    )
    last_day = times.local_day(last.starts_at, last.timezone) if last else None
    return on_track, needed_by, last_day, upcoming


async def set_cadence(turn: Turn, command: Command) -> Sequence[Reply]:
    name, value = command.get("area"), command.get("per_year").casefold()
    area = None
    if name.casefold() != "all":
        area = await turn.uow.areas.by_name(name)
        if area is None:
            raise Refusal(f"There's no area called {name}.")
    await permissions.require_areas(
        turn,
        [area.id if area else permissions.WHOLE_PARTNERSHIP],
        what=f"set {area.name if area else 'the whole partnership'}'s cadence",
    )
    if value in ("off", "none", "0"):
        per_year = 0
    elif value.isdigit() and 1 <= int(value) <= 12:
        per_year = int(value)
    else:
        raise Refusal(
            "Say how many meetings a year, 1 to 12, or off: e.g. `meeting cadence Marr 2`."
        )
    await turn.uow.meta.put(_cadence_key(area), str(per_year))
    who = area.name if area is not None else "The whole partnership"
    if per_year == 0:
        text = f"{who} keeps no meeting cadence now; I won't warn about it."
    else:
        text = (
            f"{who} should meet {cadence_text(per_year)}; I'll warn its coordinators when the "
            "next meeting isn't scheduled in time."
        )
    return (text_reply(text, tone=Tone.GOOD),)


async def listing(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    zone = await turn.zone_name()
    upcoming = await uow.meetings.upcoming(turn.now, limit=10)
    blocks: list = [Heading("Upcoming meetings")]
    if upcoming:
        lines = []
        for meeting in upcoming:
            area = await _area_name(uow, meeting) or "whole partnership"
            counts = await uow.meetings.rsvp_counts(meeting.id)
            lines.append(
                f"{meeting.id}. {meeting.title} - {times.local(meeting.starts_at, zone)} - "
                f"{area} - {counts.get('yes', 0)} going"
            )
        blocks.append(BulletList(tuple(lines)))
    else:
        blocks.append(Paragraph("No meetings are scheduled.", Tone.MUTED))
    facts = []
    for area in (*await uow.areas.all(), None):
        found = await standing(uow, area, turn.now)
        if found is None:
            continue
        on_track, needed_by, last, upcoming_one = found
        name = area.name if area else "Whole partnership"
        label = f"{name} ({cadence_text(await cadence_of(uow, area))})"
        met = f"last met {last}" if last else "not met yet"
        if on_track and upcoming_one is None:
            facts.append(
                (label, f"{met}; the next is needed by {times.local_day(needed_by, zone)}")
            )
        elif on_track and upcoming_one is not None:
            facts.append(
                (
                    label,
                    f"on track - {met}; next {times.local_day(upcoming_one.starts_at, zone)}",
                )
            )
        else:
            facts.append(
                (
                    label,
                    f"behind - {met}; a meeting is needed by "
                    f"{times.local_day(needed_by, zone)} and none is scheduled",
                )
            )
    if facts:
        blocks += [
            Paragraph("Each area's standing against its cadence", Tone.STRONG),
            Facts(tuple(facts)),
        ]
    summary = f"{len(upcoming)} upcoming meeting{'s' if len(upcoming) != 1 else ''}" + (
        f"; next {upcoming[0].title} {times.local(upcoming[0].starts_at, zone)}" if upcoming else ""
    )
    return (Reply(View(summary=summary, blocks=tuple(blocks))),)


# -- answering -------------------------------------------------------------------------------


async def rsvp(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    meeting = await _meeting(turn, command.get("id"))
    _scheduled(meeting)
    if meeting.ends_at <= turn.now:
        raise Refusal(f"{meeting.title} (meeting {meeting.id}) is over.")
    answer = command.get("answer")
    record, changed = await uow.meetings.answer(meeting.id, turn.member.id, answer, now=turn.now)
    if changed:
        if answer == "no":
            await cancel(uow, _reminder_prefix(meeting.id, turn.member.id))
        else:
            await _queue_reminders(
                uow,
                meeting,
                turn.member,
                version=record.version,
                default_zone=turn.partnership.timezone,
                now=turn.now,
            )
    zone = await turn.zone_name()
    said = {
        "yes": "You're going to",
        "maybe": "You might come to",
        "no": "You can't come to",
    }[answer]
    counts = await uow.meetings.rsvp_counts(meeting.id)
    text = (
        f"{said} {meeting.title} (meeting {meeting.id}), {times.local(meeting.starts_at, zone)} "
        f"({zone}). Replies so far: {views.counts_line(counts)}."
    )
    confirmation = text_reply(text, tone=Tone.GOOD, private=True)
    if not turn.message.is_button:
        return (confirmation,)
    # Pressed on the announcement (or an invitation): show everyone the new counts on it.
    series = await uow.meetings.in_series(meeting.series_id) if meeting.series_id else ()
    card = views.announcement(
        meeting,
        zone=meeting.timezone,
        area=await _area_name(uow, meeting),
        counts=counts,
        ics_url=_ics_url(turn.partnership.public_url, meeting),
        series=series,
        heading="You're invited" if turn.message.is_direct else "Forum meeting",
    )
    return (Reply(card, updates_card=True), confirmation)


async def attend(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    meeting = await _meeting(turn, command.get("id"))
    _scheduled(meeting)
    opens = meeting.starts_at - CHECK_IN_EARLY
    zone = await turn.zone_name()
    ref = command.get("member")
    if ref is not None:
        if not turn.is_coordinator and not turn.coordinates:
            raise Refusal("Only coordinators can mark someone else as attending.")
        await permissions.require_areas(
            turn, [meeting.area_id], what=f"mark others at meeting {meeting.id} ({meeting.title})"
        )
        member = await resolve_member(turn, ref)
        if turn.now < opens:
            raise Refusal(
                f"{meeting.title} hasn't started: attendance opens "
                f"{times.local(opens, zone)} ({zone})."
            )
    else:
        member = turn.member
        if turn.now < opens:
            raise Refusal(
                f"Check-in for {meeting.title} opens {times.local(opens, zone)} ({zone}), "
                "a little before it starts."
            )
        if turn.now > meeting.ends_at:
            raise Refusal(
                f"{meeting.title} ended {times.local(meeting.ends_at, zone)}; ask a coordinator "
                "to mark you as attending."
            )
    if not await uow.meetings.attend(meeting.id, member, by=turn.member.id, now=turn.now):
        who = "You're" if member.id == turn.member.id else f"{member.display_name} is"
        return (text_reply(f"{who} already checked in to {meeting.title}.", private=True),)
    # Whoever was there needs no more reminders of it.
    await cancel(uow, _reminder_prefix(meeting.id, member.id))
    if member.id == turn.member.id:
        text = f"Welcome! You're checked in to {meeting.title}."
    else:
        text = f"Marked {member.display_name} as attending {meeting.title}."
    return (text_reply(text, tone=Tone.GOOD, private=True),)


async def attendance(turn: Turn, command: Command) -> Sequence[Reply]:
    meeting = await _meeting(turn, command.get("id"))
    attendees = await turn.uow.meetings.attendees(meeting.id)
    # People who have since erased their data still count, by area and organisation, unnamed.
    unnamed = await turn.uow.meetings.unnamed_attendees(meeting.id)
    zone = await turn.zone_name()
    total = len(attendees) + len(unnamed)
    organisations = {a.organisation for a in attendees if a.organisation} | {
        organisation for _, organisation in unnamed if organisation
    }
    headline = (
        f"{_plural(total, 'partner')} attended {meeting.title} "
        f"({times.local_day(meeting.starts_at, zone)})"
        + (f", from {_plural(len(organisations), 'organisation')}." if organisations else ".")
    )
    places = [(a.area, a.organisation) for a in attendees] + unnamed
    by_area = Counter(area or "No area" for area, _ in places)
    by_org = Counter(organisation or "No organisation" for _, organisation in places)
    blocks: list = [Heading(f"Attendance: {meeting.title}"), Paragraph(headline, Tone.STRONG)]
    if places:
        blocks += [
            Paragraph("By area", Tone.STRONG),
            Facts(tuple((name, str(count)) for name, count in sorted(by_area.items()))),
            Paragraph("By organisation", Tone.STRONG),
            Facts(tuple((name, str(count)) for name, count in sorted(by_org.items()))),
        ]
        if turn.is_manager or permissions.may_act(turn, meeting.area_id):
            blocks += [
                Paragraph("Who came", Tone.STRONG),
                BulletList(
                    tuple(
                        f"{a.name} - {a.area or 'no area'} - {a.organisation or 'no organisation'}"
                        + (" (marked by a coordinator)" if a.marked_by_other else "")
                        for a in attendees
                    )
                    + (
                        (
                            f"and {len(unnamed)} more who "
                            f"{'has' if len(unnamed) == 1 else 'have'} since erased their data",
                        )
                        if unnamed
                        else ()
                    )
                ),
            ]
    return (Reply(View(summary=headline, blocks=tuple(blocks))),)


# -- changing --------------------------------------------------------------------------------


async def change(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    meeting = await _meeting(turn, command.get("id"))
    await permissions.require_areas(
        turn, [meeting.area_id], what=f"change meeting {meeting.id} ({meeting.title})"
    )
    _scheduled(meeting)
    if meeting.starts_at <= turn.now:
        raise Refusal(f"{meeting.title} (meeting {meeting.id}) has already started.")
    zone = meeting.timezone
    local_start = meeting.starts_at.astimezone(ZoneInfo(zone))
    day = command.get("date") or local_start.date()
    clock = command.get("time") or local_start.time().replace(tzinfo=None)
    duration = command.get("duration") or (meeting.ends_at - meeting.starts_at)
    place = command.get("where")
    if not any(command.get(k) is not None for k in ("date", "time", "where", "duration")):
        raise Refusal("Say what changes: date=, time=, where= or duration=.")
    try:
        starts_at = times.to_utc(datetime.combine(day, clock), zone)
    except times.NotALocalTime:
        raise Refusal(
            f"{clock:%H:%M} on {day:%d %b %Y} doesn't exist in {zone}: the clocks go forward then."
        ) from None
    if starts_at <= turn.now:
        raise Refusal(f"{day:%a %d %b %Y} {clock:%H:%M} ({zone}) is in the past.")
    what = []
    if starts_at != meeting.starts_at:
        what.append(f"moved from {times.local(meeting.starts_at, zone)}")
    if place is not None and " ".join(place.split()) != meeting.place:
        meeting.place = " ".join(place.split())[:MAX_PLACE]
        what.append(f"now at {meeting.place}")
    if duration != meeting.ends_at - meeting.starts_at:
        what.append(f"now {int(duration.total_seconds() // 60)} minutes long")
    if not what:
        return (text_reply(f"Nothing changed: meeting {meeting.id} is already like that."),)
    meeting.starts_at, meeting.ends_at = starts_at, starts_at + duration
    meeting.revision += 1
    description = "; ".join(what)
    await cancel(uow, _reminder_prefix(meeting.id))
    await cancel(uow, f"{_prefix(meeting.id)}announce:")
    await _store_ics(uow, [meeting], series=False, now=turn.now, update=True)
    ics_url = _ics_url(turn.partnership.public_url, meeting)
    await _announce(turn, meeting, heading="Changed meeting")
    await _remind_audience(uow, meeting, default_zone=turn.partnership.timezone, now=turn.now)
    told = await _tell_those_going(
        turn,
        meeting,
        key=f"change:r{meeting.revision}",
        make=lambda z: views.changed(meeting, zone=z, what=description, ics_url=ics_url),
    )
    return (
        text_reply(
            f"Changed {meeting.title} (meeting {meeting.id}): {description}. Reminders are "
            f"rescheduled and {_plural(told, 'member')} who replied have been told.",
            tone=Tone.GOOD,
        ),
    )


async def cancel_meeting(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    meeting = await _meeting(turn, command.get("id"))
    await permissions.require_areas(
        turn, [meeting.area_id], what=f"cancel meeting {meeting.id} ({meeting.title})"
    )
    if meeting.status == CANCELLED:
        return (text_reply(f"Meeting {meeting.id} was already cancelled."),)
    if meeting.ends_at <= turn.now:
        raise Refusal(f"{meeting.title} (meeting {meeting.id}) is over; it can't be cancelled.")
    meeting.status, meeting.cancelled_at = CANCELLED, turn.now
    meeting.revision += 1
    withdrawn = await cancel(uow, _prefix(meeting.id))
    # Calendars that took the invite are told to drop it (same UID, higher SEQUENCE).
    await _store_ics(uow, [meeting], series=False, now=turn.now, update=True)
    ics_url = _ics_url(turn.partnership.public_url, meeting)
    for conversation in await uow.meetings.channels(meeting.area_id):
        await queue(
            uow,
            key=f"{_prefix(meeting.id)}cancelled:c{conversation.id}",
            kind=Kind.MEETING_CHANGE,
            to=ToConversation(conversation.id),
            view=views.cancelled(meeting, zone=meeting.timezone, ics_url=ics_url),
            due_at=turn.now,
            now=turn.now,
        )
    told = await _tell_those_going(
        turn,
        meeting,
        key="cancelled",
        make=lambda z: views.cancelled(meeting, zone=z, ics_url=ics_url),
    )
    rest = ""
    if meeting.series_id is not None:
        rest = " The other meetings in its series are still on."
    return (
        text_reply(
            f"Cancelled {meeting.title} (meeting {meeting.id}). "
            f"{_plural(withdrawn, 'pending message')} withdrawn; "
            f"{_plural(told, 'member')} who replied have been told.{rest}",
            tone=Tone.GOOD,
        ),
    )


async def invite_partners(turn: Turn, command: Command) -> Sequence[Reply]:
    """Invite every organisation in the directory, current and past, and tell their members."""
    uow = turn.uow
    meeting = await _meeting(turn, command.get("id"))
    await permissions.require_areas(
        turn, [meeting.area_id], what=f"invite partners to meeting {meeting.id} ({meeting.title})"
    )
    _scheduled(meeting)
    if meeting.starts_at <= turn.now:
        raise Refusal(f"{meeting.title} (meeting {meeting.id}) has already started.")
    organisations = await uow.organisations.all()
    if not organisations:
        raise Refusal("The partners directory is empty: add organisations with `partner add`.")
    new = await uow.meetings.invite(
        meeting.id, [o.id for o in organisations], by=turn.member.id, now=turn.now
    )
    members = await uow.meetings.members_of([o.id for o in organisations])
    area = await _area_name(uow, meeting)
    counts = await uow.meetings.rsvp_counts(meeting.id)
    for member in members:
        zone = await zone_of(uow, member, turn.partnership.timezone)
        await queue(
            uow,
            key=f"{_prefix(meeting.id)}invite:m{member.id}",
            kind=Kind.MEETING_ANNOUNCEMENT,
            to=ToMember(member.id),
            view=views.announcement(
                meeting,
                zone=zone,
                area=area,
                counts=counts,
                ics_url=_ics_url(turn.partnership.public_url, meeting),
                heading="You're invited",
            ),
            due_at=turn.now,
            now=turn.now,
            not_after=meeting.starts_at,
        )
    reminded = await _remind_audience(
        uow, meeting, default_zone=turn.partnership.timezone, now=turn.now
    )
    current = sum(1 for o in organisations if o.is_current)
    text = (
        f"Invited {_plural(len(organisations), 'organisation')} to {meeting.title} "
        f"({current} current, {len(organisations) - current} past; {new} newly): "
        f"{', '.join(o.name for o in organisations)}. Sending the invitation to "
        f"{_plural(len(members), 'member')} of theirs; {reminded} will get reminders."
    )
    # An organisation nobody can be told about it is only invited on paper: name them, so the
    # coordinator can reach them another way.
    reachable = await uow.meetings.reachable([m.id for m in members])
    nobody = [o.name for o in organisations if not any(m.organisation_id == o.id for m in members)]
    refused = [
        o.name
        for o in organisations
        if o.name not in nobody
        and not any(m.organisation_id == o.id and m.id in reachable for m in members)
    ]
    unreached = []
    if nobody:
        unreached.append(f"no member of {', '.join(nobody)} uses partnerbot")
    if refused:
        unreached.append(f"the platforms refused messages to every member of {', '.join(refused)}")
    if not unreached:
        return (text_reply(text, tone=Tone.GOOD),)
    return (
        text_reply(text, tone=Tone.GOOD),
        text_reply(
            f"Couldn't reach {_plural(len(nobody) + len(refused), 'organisation')}: "
            + "; ".join(unreached)
            + ". Invite them another way (email, phone).",
            tone=Tone.WARNING,
        ),
    )


async def link_channel(turn: Turn, command: Command) -> Sequence[Reply]:
    if turn.message.is_direct:
        raise Refusal("Type `area channel <area>` in the channel where the area meets.")
    name = command.get("area")
    area = await turn.uow.areas.by_name(name)
    if area is None:
        known = ", ".join(a.name for a in await turn.uow.areas.all()) or "none yet"
        raise Refusal(f"There's no area called {name}. Areas: {known}.")
    await permissions.require_areas(turn, [area.id], what=f"link {area.name}'s channel")
    address = turn.message.conversation
    conversation = await turn.uow.conversations.find(
        address.platform, address.tenant_id, address.conversation_id
    )
    assert conversation is not None  # the core remembers every channel it hears from
    conversation.area_id = area.id
    await turn.uow.session.flush()
    return (
        text_reply(f"{area.name}'s meetings will be announced in this channel.", tone=Tone.GOOD),
    )


# -- the weekly cadence check ----------------------------------------------------------------


async def warn_cadence(uow: UnitOfWork, now: datetime, *, default_zone: str) -> int:
    """Warn each area's coordinators (all coordinators, if the area has none) when the next
    meeting its cadence needs isn't scheduled. Keyed by ISO week: at most once a week."""
    year, week, _ = now.astimezone(UTC).isocalendar()
    coordinators = await uow.members.with_role(Role.COORDINATOR)
    posts = await uow.members.area_coordinators()
    warned = 0
    for area in (*await uow.areas.all(), None):
        found = await standing(uow, area, now)
        if found is None or found[0]:
            continue
        _on_track, needed_by, last, _next = found
        if area is None:
            local_coordinators, name, tag = coordinators, "The whole partnership", "all"
        else:
            local = [*posts.get(area.id, ()), *(c for c in coordinators if c.area_id == area.id)]
            local_coordinators = list({c.id: c for c in local}.values()) or coordinators
            name, tag = area.name, f"a{area.id}"
        for coordinator in local_coordinators:
            zone = await zone_of(uow, coordinator, default_zone)
            if await queue(
                uow,
                key=f"meeting:cadence:{tag}:{year}-W{week:02d}:m{coordinator.id}",
                kind=Kind.NOTICE,
                to=ToMember(coordinator.id),
                view=views.cadence_warning(
                    name, needed_by=needed_by, zone=zone, last=last, whole=area is None
                ),
                due_at=now,
                now=now,
            ):
                warned += 1
    return warned


HANDLERS = {
    ("meeting", "schedule"): schedule,
    ("meetings",): listing,
    ("meeting",): show,
    ("meeting", "change"): change,
    ("meeting", "cancel"): cancel_meeting,
    ("meeting", "invite"): invite_partners,
    ("meeting", "attendance"): attendance,
    ("meeting", "cadence"): set_cadence,
    ("area", "channel"): link_channel,
    ("rsvp",): rsvp,
    ("attend",): attend,
}
