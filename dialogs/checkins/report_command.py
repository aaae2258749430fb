"""``checkin report``: the report of the latest cycle, in chat or as a file to download."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dialogs import permissions
from dialogs.checkins import reports
from dialogs.checkins.actions import MAX_ACTION
from dialogs.checkins.report_data import ActionProgress, Answer, CycleFacts, ReportData
from dialogs.outbox import privately
from dialogs.parser import Command
from dialogs.turn import Refusal, Turn
from dialogs.views import (
    Actions,
    Button,
    ButtonStyle,
    Heading,
    Image,
    Paragraph,
    Reply,
    Tone,
    View,
)
from storage.models import Cycle, Export
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from config.frameworks import Framework

EXPORT_LIFETIME = timedelta(hours=24)
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "png": "image/png",
}


async def report_data(
    uow: UnitOfWork,
    cycle: Cycle,
    frameworks: Mapping[str, Framework],
    *,
    timezone: str,
    with_previous: bool = True,
) -> ReportData:
    framework = frameworks[cycle.framework_key]
    areas = await uow.checkins.areas_of(cycle.id)
    names = {area.id: area.name for area in areas}
    invited: Counter[str] = Counter()
    responded: Counter[str] = Counter()
    for participant, _member in await uow.checkins.participants(cycle.id):
        area = names.get(participant.area_id, "No area")
        invited[area] += 1
        if participant.answered:
            responded[area] += 1
    # Those nobody may name any more still count, as they did when the report was first read.
    for unnamed in await uow.checkins.unnamed_participants(cycle.id):
        area = names.get(unnamed.area_id, "No area")
        invited[area] += 1
        if unnamed.answered:
            responded[area] += 1
    answers = tuple(
        Answer(
            area=row.area,
            question=row.question,
            rating=row.rating,
            texts=row.texts,
            member=row.member,
            organisation=row.organisation,
        )
        for row in await uow.checkins.answers(cycle)
        if not row.skipped
    )
    previous = None
    actions: tuple[ActionProgress, ...] = ()
    if with_previous:
        earlier = await uow.checkins.previous_cycle(cycle)
        if earlier is not None and earlier.framework_key in frameworks:
            previous = await report_data(
                uow, earlier, frameworks, timezone=timezone, with_previous=False
            )
        if earlier is not None:
            actions = await action_progress(uow, earlier.id)
    facts = CycleFacts(
        id=cycle.id,
        framework=framework,
        questions=tuple(cycle.questions),
        areas=tuple(area.name for area in areas),
        anonymous=cycle.anonymous,
        opened_at=cycle.opened_at,
        closes_at=cycle.closes_at,
        closed_at=cycle.closed_at,
        invited=dict(invited),
        responded=dict(responded),
    )
    return ReportData(
        cycle=facts,
        answers=answers,
        previous=previous,
        min_respondents=cycle.min_respondents,
        timezone=timezone,
        actions=actions,
    )


async def action_progress(uow: UnitOfWork, cycle_id: int) -> tuple[ActionProgress, ...]:
    """The action plan that came out of cycle ``cycle_id``, as it stands."""
    items = await uow.actions.listed(cycle_id=cycle_id)
    areas = {area.id: area.name for area in await uow.areas.all()}
    owners = {}
    for item in items:
        if item.owner_id is not None and item.owner_id not in owners:
            owner = await uow.members.get(item.owner_id)
            owners[item.owner_id] = owner.display_name if owner else None
    return tuple(
        ActionProgress(
            id=item.id,
            text=item.text,
            area=areas.get(item.area_id) if item.area_id else None,
            question=item.question,
            owner=owners.get(item.owner_id) if item.owner_id else None,
            due_on=item.due_on,
            done=item.status == "done",
        )
        for item in sorted(items, key=lambda i: i.id)
    )


async def _reporting_cycle(turn: Turn, command: Command) -> tuple[Cycle, str | None]:
    """The latest cycle and the area asked for (the grammar lets coordinators and managers in)."""
    cycle = await turn.uow.checkins.latest_cycle()
    if cycle is None:
        raise Refusal("There's no check-in to report on yet.")
    area = command.get("area")
    found = None
    if area is not None:
        found = await turn.uow.areas.by_name(area)
        if found is None:
            raise Refusal(f"There's no area called {area}.")
        area = found.name
    # An area's coordinator reads their own area's part (managers read every area's).
    covers = [a.id for a in await turn.uow.checkins.areas_of(cycle.id)]
    part = await permissions.require_part(
        turn, covers, what=f"read check-in {cycle.id}'s report", managers=True
    )
    if part is not None and found is None:
        if len(part) > 1:
            raise Refusal("You coordinate several of its areas: say which with area=<area>.")
        only = await turn.uow.areas.get(next(iter(part)))
        area = only.name if only is not None else None
    elif part is not None and found is not None:
        await permissions.require_areas(turn, [found.id], what=f"read {found.name}'s report")
    return cycle, area


async def _in_private(turn: Turn, cycle: Cycle, view: View, what: str) -> Sequence[Reply]:
    """Answers are only shown in private: asked for in a channel, it goes to the asker's DM."""
    return await privately(
        turn,
        view,
        key=f"{what}:{cycle.id}:member:{turn.member.id}",
        note="Reports hold members' answers, so I've sent it to you privately.",
    )


async def report(turn: Turn, command: Command) -> Sequence[Reply]:
    cycle, area = await _reporting_cycle(turn, command)
    data = await report_data(
        turn.uow, cycle, turn.partnership.frameworks, timezone=await turn.zone_name()
    )
    fmt = command.get("format")
    view = (
        # Off the event loop, as every render is (see _export).
        await asyncio.to_thread(reports.report_view, data, area=area)
        if fmt is None
        else await _export(turn, data, fmt, area)
    )
    return await _in_private(turn, cycle, view, "report")


MAX_PRIORITIES_SHOWN = 20


def _action_text(text: str) -> str:
    """A priority as the text of an ``action add`` button: one line, no double quotes (they
    would end the quoted argument), at most the length an action may have."""
    line = " ".join(text.replace('"', "'").split())
    return line if len(line) <= MAX_ACTION else line[: MAX_ACTION - 1] + "\u2026"


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name


async def priorities(turn: Turn, command: Command) -> Sequence[Reply]:
    """The improvement priorities written in the latest cycle, each with a button that makes it
    an action for its area and question (owned by whoever presses it)."""
    cycle, area = await _reporting_cycle(turn, command)
    framework = turn.partnership.frameworks[cycle.framework_key]
    already = {item.text for item in await turn.uow.actions.listed(cycle_id=cycle.id)}
    found = [
        (row.area, row.question, _action_text(text))
        for row in await turn.uow.checkins.answers(cycle)
        if not row.skipped
        and (text := (row.texts or {}).get(reports.PRIORITIES, "").strip())
        and (area is None or row.area == area)
    ]
    heading = f"Improvement priorities, {framework.short_title}" + (f", {area}" if area else "")
    if not found:
        return await _in_private(
            turn,
            cycle,
            View(
                f"{heading}: none written yet.",
                (
                    Heading(heading),
                    Paragraph("No improvement priorities have been written yet.", Tone.MUTED),
                ),
            ),
            "priorities",
        )
    blocks: list = [
        Heading(heading),
        Paragraph(
            "Press a button to make a priority an action for its area and question; you will "
            "own it. Give it an owner and a date with `action add` instead if you prefer.",
            Tone.MUTED,
        ),
    ]
    for where, question, text in found[:MAX_PRIORITIES_SHOWN]:
        blocks.append(Paragraph(f"{where}, question {question}: {text}"))
        if text in already:
            blocks.append(Paragraph("Already an action.", Tone.MUTED))
            continue
        blocks.append(
            Actions(
                (
                    Button(
                        "Make it an action",
                        f'action add "{text}" area={_quoted(where)} question={question}',
                    ),
                )
            )
        )
    if len(found) > MAX_PRIORITIES_SHOWN:
        blocks.append(
            Paragraph(
                f"{len(found) - MAX_PRIORITIES_SHOWN} more; ask for one area at a time "
                "with `checkin priorities area=<area>`.",
                Tone.MUTED,
            )
        )
    summary = f"{heading}: {len(found)} written"
    return await _in_private(turn, cycle, View(summary, tuple(blocks)), "priorities")


def _slug(name: str) -> str:
    """A file-name-safe form of an area name (it ends up in a Content-Disposition header)."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "area"


async def _export(turn: Turn, data: ReportData, fmt: str, area: str | None) -> View:
    stem = f"{data.cycle.framework.key}-checkin-{data.cycle.id}" + (
        f"-{_slug(area)}" if area else ""
    )
    # Rendered on a worker thread: a large report is seconds of CPU (the Word export most), and
    # on the event loop it would hold up every other member's turn and Slack's 3 s acks
    # (docs/benchmarks.md, acks during reports). ReportData is frozen and each render builds
    # its own document or figure, so nothing is shared with the loop.
    payload = await asyncio.to_thread(_render, data, fmt, area)
    filename = f"{stem}.{fmt}"
    url = await offer_download(turn, filename=filename, media_type=MEDIA_TYPES[fmt], data=payload)
    await turn.uow.audit.record(
        actor=turn.member,
        action="report exported",
        subject=f"check-in {data.cycle.id} as {fmt.upper()}" + (f", {area}" if area else ""),
        detail={"cycle": data.cycle.id, "format": fmt, "area": area},
        now=turn.now,
    )
    blocks: list = []
    if fmt == "png":
        blocks.append(
            Image(
                f"{data.cycle.framework.short_title}: ratings by area and question",
                "Bar chart of median ratings by question for each area",
                payload,
            )
        )
    blocks += [
        Paragraph(f"{filename} is ready; the link works for 24 hours."),
        Actions((Button(f"Download {fmt.upper()}", "", ButtonStyle.PRIMARY, url=url),)),
    ]
    return View(summary=f"{filename}: {url}", blocks=tuple(blocks))


async def offer_download(turn: Turn, *, filename: str, media_type: str, data: bytes) -> str:
    """Keep ``data`` for a day behind an unguessable link (the ``exports`` table), for the
    member who asked; returns the link."""
    export = Export(
        token=secrets.token_urlsafe(32),
        member_id=turn.member.id,
        filename=filename,
        media_type=media_type,
        data=data,
        created_at=turn.now,
        expires_at=turn.now + EXPORT_LIFETIME,
    )
    await turn.uow.exports.add(export)
    return f"{turn.partnership.public_url}/exports/{export.token}"


def _render(data: ReportData, fmt: str, area: str | None) -> bytes:
    if fmt == "md":
        return reports.render_markdown(data, area=area).encode()
    if fmt == "csv":
        return reports.render_csv(data, area=area).encode()
    if fmt == "docx":
        return reports.render_docx(data, area=area)
    return reports.render_chart(data, area=area)


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    data: bytes


async def fetch_download(uow: UnitOfWork, token: str, now: datetime) -> Download | None:
    if not token or len(token) > 100:
        return None
    export = await uow.exports.fetch(token, now)
    if export is None:
        return None
    return Download(export.filename, export.media_type, bytes(export.data))


HANDLERS = {("checkin", "report"): report, ("checkin", "priorities"): priorities}
