"""Meeting times: local wall-clock times in a zone, series dates, reminder moments and the .ics
invite. Everything stored is UTC; the zone decides what "10:30 every six months" means."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import MONTHLY, YEARLY, rrule
from icalendar import Calendar, Event

DEFAULT_DURATION = timedelta(minutes=90)
DEFAULT_REMINDERS = (timedelta(days=7), timedelta(days=1), timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Repeat:
    """A cadence as an RRULE: the same rule makes the stored dates and the calendar invite."""

    freq: int
    interval: int
    count: int
    ical: dict[str, object]
    words: str


REPEATS: dict[str, Repeat] = {
    "twice-yearly": Repeat(
        MONTHLY, 6, 4, {"freq": "monthly", "interval": 6, "count": 4}, "every 6 months"
    ),
    "termly": Repeat(
        MONTHLY, 4, 6, {"freq": "monthly", "interval": 4, "count": 6}, "every 4 months"
    ),
    "yearly": Repeat(YEARLY, 1, 2, {"freq": "yearly", "interval": 1, "count": 2}, "every year"),
}


class NotALocalTime(ValueError):
    """A wall-clock time that never happens in the zone (the clocks jump over it)."""


def to_utc(wall: datetime, zone: str) -> datetime:
    """A naive local time in ``zone`` as an aware UTC time; refuses times in a DST gap."""
    tz = ZoneInfo(zone)
    moment = wall.replace(tzinfo=tz).astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) != wall:
        raise NotALocalTime(wall.isoformat(timespec="minutes"))
    return moment


def occurrences(day: date, clock: time, repeat: str | None) -> list[datetime]:
    """The naive local start times: one, or the series the repeat rule makes."""
    first = datetime.combine(day, clock)
    if repeat is None:
        return [first]
    rule = REPEATS[repeat]
    return list(rrule(rule.freq, dtstart=first, interval=rule.interval, count=rule.count))


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M")


def local_day(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%d %b %Y")


def reminder_at(starts_at: datetime, before: timedelta, zone: str) -> datetime:
    """When a reminder ``before`` the start goes out. Days count on the calendar of the
    meeting's zone ("1d" is the same wall-clock time the day before, even across a clock
    change); hours and minutes count on the clock."""
    moment = starts_at
    if before.days:
        tz = ZoneInfo(zone)
        wall = moment.astimezone(tz).replace(tzinfo=None) - timedelta(days=before.days)
        # A wall time in a gap maps to the instant just after it, fold=0: still one moment.
        moment = wall.replace(tzinfo=tz).astimezone(UTC)
    return moment - timedelta(seconds=before.seconds)


def offset_words(before: timedelta) -> str:
    parts = []
    if before.days:
        parts.append(f"{before.days} day{'s' if before.days != 1 else ''}")
    hours, rest = divmod(before.seconds, 3600)
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest // 60:
        parts.append(f"{rest // 60} minutes")
    return " ".join(parts) or "now"


@dataclass(frozen=True, slots=True)
class Invite:
    uid: str
    title: str
    starts_at: datetime
    ends_at: datetime
    zone: str
    place: str
    agenda: tuple[str, ...]
    repeat: str | None
    sequence: int
    cancelled: bool = False
    # An update of what calendars already have (REQUEST) rather than a first invite (PUBLISH).
    update: bool = False
    # One meeting of a series: the start the series' rule gave it.
    recurrence_id: datetime | None = None


def ics(invite: Invite, *, now: datetime) -> bytes:
    """A calendar file for the meeting, in its own zone (with the VTIMEZONE), a series as one
    event with its RRULE. A change goes as REQUEST and a cancellation as CANCEL, with the UID
    calendars already have and a higher SEQUENCE, so they update the event instead of adding
    one; one meeting of a series is that occurrence (RECURRENCE-ID) of the series' event."""
    tz = ZoneInfo(invite.zone)
    calendar = Calendar()
    calendar.add("prodid", "-//partnerbot//forum meetings//EN")
    calendar.add("version", "2.0")
    method = "CANCEL" if invite.cancelled else "REQUEST" if invite.update else "PUBLISH"
    calendar.add("method", method)
    event = Event()
    event.add("uid", invite.uid)
    if invite.recurrence_id is not None:
        event.add("recurrence-id", invite.recurrence_id.astimezone(tz))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", invite.starts_at.astimezone(tz))
    event.add("dtend", invite.ends_at.astimezone(tz))
    event.add("summary", invite.title)
    event.add("sequence", invite.sequence)
    if invite.place:
        event.add("location", invite.place)
        if invite.place.startswith(("https://", "http://")):
            event.add("url", invite.place)
    event.add("description", "Agenda:\n" + "\n".join(f"- {item}" for item in invite.agenda))
    if invite.repeat is not None:
        event.add("rrule", REPEATS[invite.repeat].ical)
    event.add("status", "CANCELLED" if invite.cancelled else "CONFIRMED")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
