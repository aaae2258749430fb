"""``checkin report``: the report of the latest cycle, in chat or as a file to download."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dialogs.checkins import reports
from dialogs.checkins.report_data import Answer, CycleFacts, ReportData
from dialogs.grammar import Role
from dialogs.outbox import Kind, ToMember, queue
from dialogs.parser import Command
from dialogs.turn import Refusal, Turn
from dialogs.views import Actions, Button, ButtonStyle, Image, Paragraph, Reply, View, text_reply
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
    if with_previous:
        earlier = await uow.checkins.previous_cycle(cycle)
        if earlier is not None and earlier.framework_key in frameworks:
            previous = await report_data(
                uow, earlier, frameworks, timezone=timezone, with_previous=False
            )
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
    )


async def report(turn: Turn, command: Command) -> Sequence[Reply]:
    if not ({Role.COORDINATOR, Role.MANAGER} & turn.roles):
        raise Refusal("Reports are for coordinators and programme managers.")
    cycle = await turn.uow.checkins.latest_cycle()
    if cycle is None:
        raise Refusal("There's no check-in to report on yet.")
    area = command.get("area")
    if area is not None:
        found = await turn.uow.areas.by_name(area)
        if found is None:
            raise Refusal(f"There's no area called {area}.")
        area = found.name
    data = await report_data(
        turn.uow, cycle, turn.partnership.frameworks, timezone=await turn.zone_name()
    )
    fmt = command.get("format")
    view = (
        reports.report_view(data, area=area)
        if fmt is None
        else await _export(turn, data, fmt, area)
    )
    if turn.message.is_direct:
        return (Reply(view),)
    # Answers are only shown in private: send it to the coordinator's own chat.
    await queue(
        turn.uow,
        key=f"report:{cycle.id}:member:{turn.member.id}:{turn.now.timestamp():.0f}",
        kind=Kind.NOTICE,
        to=ToMember(turn.member.id),
        view=view,
        due_at=turn.now,
        now=turn.now,
    )
    return (
        text_reply(
            "Reports hold members' answers, so I've sent it to you privately.", private=True
        ),
    )


def _slug(name: str) -> str:
    """A file-name-safe form of an area name (it ends up in a Content-Disposition header)."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "area"


async def _export(turn: Turn, data: ReportData, fmt: str, area: str | None) -> View:
    stem = f"{data.cycle.framework.key}-checkin-{data.cycle.id}" + (
        f"-{_slug(area)}" if area else ""
    )
    if fmt == "md":
        payload = reports.render_markdown(data, area=area).encode()
    elif fmt == "csv":
        payload = reports.render_csv(data, area=area).encode()
    elif fmt == "docx":
        payload = reports.render_docx(data, area=area)
    else:
        payload = reports.render_chart(data, area=area)
    export = Export(
        token=secrets.token_urlsafe(32),
        member_id=turn.member.id,
        filename=f"{stem}.{fmt}",
        media_type=MEDIA_TYPES[fmt],
        data=payload,
        created_at=turn.now,
        expires_at=turn.now + EXPORT_LIFETIME,
    )
    await turn.uow.exports.add(export)
    url = f"{turn.partnership.public_url}/exports/{export.token}"
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
        Paragraph(f"{export.filename} is ready; the link works for 24 hours."),
        Actions((Button(f"Download {fmt.upper()}", "", ButtonStyle.PRIMARY, url=url),)),
    ]
    return View(summary=f"{export.filename}: {url}", blocks=tuple(blocks))


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


HANDLERS = {("checkin", "report"): report}
