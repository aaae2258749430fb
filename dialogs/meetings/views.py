"""What members see of a meeting (neutral views)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from dialogs.meetings.times import REPEATS, local, local_day, offset_words
from dialogs.views import (
    Actions,
    Block,
    BulletList,
    Button,
    ButtonStyle,
    Facts,
    Heading,
    Paragraph,
    Tone,
    View,
)
from storage.meetings import CANCELLED
from storage.models import Meeting

SHARING_PRACTICE = "Sharing practice: what's working, stories and resources from partners"
DEFAULT_AGENDA = (
    "Welcome and introductions",
    "Partnership updates",
    SHARING_PRACTICE,
    "Any other business and next meeting",
)
ANSWERS = {"yes": "Going", "maybe": "Maybe", "no": "Can't"}
CALENDAR_ADD = "Add to calendar (.ics)"
CALENDAR_UPDATE = "Update my calendar (.ics)"
CALENDAR_REMOVE = "Remove from calendar (.ics)"


def when(meeting: Meeting, zone: str) -> str:
    minutes = int((meeting.ends_at - meeting.starts_at).total_seconds() // 60)
    return f"{local(meeting.starts_at, zone)} ({zone}), {minutes} minutes"


def counts_line(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{label} {counts.get(answer, 0)}" for answer, label in ANSWERS.items())


def rsvp_buttons(meeting_id: int) -> tuple[Button, ...]:
    return (
        Button("Going", f"rsvp {meeting_id} yes", ButtonStyle.PRIMARY),
        Button("Maybe", f"rsvp {meeting_id} maybe"),
        Button("Can't", f"rsvp {meeting_id} no"),
    )


def announcement(
    meeting: Meeting,
    *,
    zone: str,
    area: str | None,
    counts: Mapping[str, int],
    ics_url: str | None,
    series: Sequence[Meeting] = (),
    heading: str = "Forum meeting",
) -> View:
    facts = [
        ("When", when(meeting, zone)),
        ("Where", meeting.place or "to be confirmed"),
        ("For", area or "the whole partnership"),
    ]
    if meeting.repeat is not None and len(series) > 1:
        facts.append(
            (
                "Series",
                f"{REPEATS[meeting.repeat].words}: "
                + ", ".join(local_day(m.starts_at, zone) for m in series),
            )
        )
    buttons = list(rsvp_buttons(meeting.id))
    if ics_url:
        label = CALENDAR_REMOVE if meeting.status == CANCELLED else CALENDAR_ADD
        buttons.append(Button(label, "", url=ics_url))
    blocks: list[Block] = [
        Heading(f"{heading} {meeting.id}: {meeting.title}"),
        Facts(tuple(facts)),
        Paragraph("Agenda", Tone.STRONG),
        BulletList(tuple(meeting.agenda)),
        Paragraph(f"Replies so far: {counts_line(counts)}", Tone.MUTED),
        Actions(tuple(buttons)),
    ]
    return View(
        summary=f"{heading} {meeting.id}: {meeting.title}, {local(meeting.starts_at, zone)} "
        f"({zone}), {meeting.place or 'place to be confirmed'}",
        blocks=tuple(blocks),
    )


def reminder(meeting: Meeting, *, zone: str, before: timedelta) -> View:
    text = (
        f"Reminder: {meeting.title} starts in {offset_words(before)}, "
        f"{local(meeting.starts_at, zone)} ({zone})"
        + (f", {meeting.place}." if meeting.place else ".")
    )
    return View(
        summary=text,
        blocks=(
            Paragraph(text),
            Paragraph(
                "Are you coming? When it starts I'll send you a button to check in with "
                f"(or type `attend {meeting.id}`).",
                Tone.MUTED,
            ),
            Actions(rsvp_buttons(meeting.id)),
        ),
    )


def starting(meeting: Meeting, *, zone: str, late: bool = False) -> View:
    """At the start, to those going or who haven't answered: the button that records them as
    there (``attend``)."""
    text = (
        f"{'On now' if late else 'Starting now'}: {meeting.title} (meeting {meeting.id}), "
        f"{local(meeting.starts_at, zone)} ({zone})"
        + (f", {meeting.place}." if meeting.place else ".")
    )
    return View(
        summary=text,
        blocks=(
            Paragraph(text, Tone.STRONG),
            Paragraph(
                f"There? Check in so you're counted (or type `attend {meeting.id}`).", Tone.MUTED
            ),
            Actions((Button("Check in", f"attend {meeting.id}", ButtonStyle.PRIMARY),)),
        ),
    )


def changed(meeting: Meeting, *, zone: str, what: str, ics_url: str | None = None) -> View:
    text = (
        f"{meeting.title} (meeting {meeting.id}) has changed: {what}. It is now "
        f"{local(meeting.starts_at, zone)} ({zone})"
        + (f", {meeting.place}." if meeting.place else ".")
    )
    buttons = list(rsvp_buttons(meeting.id))
    if ics_url:
        buttons.append(Button(CALENDAR_UPDATE, "", url=ics_url))
    return View(summary=text, blocks=(Paragraph(text), Actions(tuple(buttons))))


def cancelled(meeting: Meeting, *, zone: str, ics_url: str | None = None) -> View:
    text = (
        f"Cancelled: {meeting.title} (meeting {meeting.id}) on "
        f"{local(meeting.starts_at, zone)} ({zone}) will not take place."
    )
    blocks: list[Block] = [Paragraph(text, Tone.WARNING)]
    if ics_url:
        blocks.append(Actions((Button(CALENDAR_REMOVE, "", url=ics_url),)))
    return View(summary=text, blocks=tuple(blocks))


def cadence_warning(
    area: str, *, needed_by: datetime, zone: str, last: str | None, whole: bool = False
) -> View:
    since = f"It last met {last}." if last else "It hasn't met yet."
    text = (
        f"{area} is behind its meeting cadence: the next forum is needed by "
        f"{local_day(needed_by, zone)} and none is scheduled. {since}"
    )
    return View(
        summary=text,
        blocks=(
            Paragraph(text, Tone.WARNING),
            Paragraph(
                'Schedule one with `meeting schedule "<title>" <YYYY-MM-DD> <HH:MM> area='
                + ("all" if whole else area)
                + "`.",
                Tone.MUTED,
            ),
        ),
    )
