"""The weekly digest: each area's channels hear of the practice shared last week (the area's own
and the partnership-wide), through the outbox, once per area and week; no digest when nothing
is new."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialogs.outbox import Kind, ToConversation, queue
from dialogs.views import Actions, Button, Heading, Paragraph, Tone, View, as_typed
from storage.models import Area, PracticeRecord
from storage.repositories import UnitOfWork

MAX_LISTED = 10


def last_week(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, str]:
    """The previous Monday-to-Monday week in ``zone``, as UTC bounds, and its ISO name."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    end = datetime.combine(monday, time(0), zone)
    start = datetime.combine(monday - timedelta(days=7), time(0), zone)
    year, week, _ = (monday - timedelta(days=7)).isocalendar()
    return start, end, f"{year}-W{week:02d}"


def digest_view(
    area: Area, week_start: datetime, records: Sequence[PracticeRecord], authors: dict[int, str]
) -> View:
    heading = f"New practice in {as_typed(area.name)}: week of {week_start:%d %B %Y}".replace(
        " 0", " "
    )
    blocks: list = [Heading(heading)]
    for record in records[:MAX_LISTED]:
        author = authors.get(record.author_id or 0, "a former member")
        blocks.append(Paragraph(as_typed(f"#{record.id} {record.title} ({record.kind}, {author})")))
        blocks.append(Actions((Button("Open", f"practice {record.id}"),)))
    if len(records) > MAX_LISTED:
        more = len(records) - MAX_LISTED
        blocks.append(Paragraph(f"and {more} more: `practice recent`", Tone.MUTED))
    blocks.append(Paragraph("Share yours with `practice share`.", Tone.MUTED))
    count = len(records)
    summary = (
        f"{count} new practice record{'s' if count != 1 else ''} in {as_typed(area.name)} last week"
    )
    return View(summary=summary, blocks=tuple(blocks))


async def queue_digests(uow: UnitOfWork, now: datetime, *, default_zone: str) -> int:
    """Queue last week's digest for every area channel; how many were queued (0 on a re-run)."""
    queued = 0
    for area in await uow.areas.all():
        channels = await uow.conversations.of_area(area.id)
        if not channels:
            continue
        start, end, week = last_week(now, ZoneInfo(area.timezone or default_zone))
        records = [
            record
            for record in await uow.practice.published_between(start, end)
            if record.area_id in (area.id, None)
        ]
        if not records:
            continue
        view = digest_view(area, start, records, await uow.practice.authors_of(records))
        for channel in channels:
            if await queue(
                uow,
                key=f"practice.digest:{area.id}:{week}:{channel.id}",
                kind=Kind.DIGEST,
                to=ToConversation(channel.id),
                view=view,
                due_at=now,
                now=now,
            ):
                queued += 1
    return queued
