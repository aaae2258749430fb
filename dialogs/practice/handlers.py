"""Practice commands: share (a form, one line, or a chat message saved by shortcut), search,
show, recent, tags, edit and withdraw."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from dialogs.grammar import PRACTICE_KINDS
from dialogs.parser import Command
from dialogs.permissions import may_change_record
from dialogs.practice import rules
from dialogs.practice.rules import Fields, Problem
from dialogs.turn import Refusal, Turn
from dialogs.views import (
    Actions,
    BulletList,
    Button,
    ButtonStyle,
    ChoiceInput,
    Facts,
    Heading,
    Paragraph,
    Reply,
    TextInput,
    Tone,
    View,
    as_typed,
    text_reply,
)
from storage.models import PracticeRecord
from storage.practice import DRAFT, PUBLISHED, WITHDRAWN, search_terms

MAX_RESULTS = 10
DRAFT_TITLE = 80
_QUOTED_TITLE = re.compile(r"\bshare\s+[\"\u201c\u201d\u201e\u00ab\u00bb]", re.IGNORECASE)
KIND_LABELS = tuple((kind, kind.capitalize()) for kind in PRACTICE_KINDS)
NO_MEETING = "none"
# Slack shows up to 10 radio buttons: "none" and the latest meetings.
MEETING_CHOICES = 8


# -- the form --------------------------------------------------------------------------------


async def _known_tags(turn: Turn) -> set[str]:
    return set(rules.BUILT_IN_TAGS) | set(await turn.uow.practice.added_tags())


async def _area_options(turn: Turn) -> tuple[tuple[str, str], ...]:
    areas = await turn.uow.areas.all()
    return ((rules.ALL_AREAS, "The whole partnership"), *((a.name, a.name) for a in areas))


async def _meeting_options(turn: Turn, current: int | None) -> tuple[tuple[str, str], ...]:
    """The forum meetings a record can have been shared at: the latest that have started (and
    the record's own, if it is older)."""
    zone = await turn.zone()
    meetings = await turn.uow.meetings.started_recently(turn.now, limit=MEETING_CHOICES)
    if current is not None and current not in {m.id for m in meetings}:
        own = await turn.uow.meetings.get(current)
        if own is not None:
            meetings.append(own)
    return (
        (NO_MEETING, "Not shared at a forum"),
        *((str(m.id), f"{m.title}, {_when(m.starts_at, zone)}") for m in meetings),
    )


async def form_reply(
    turn: Turn,
    *,
    record: PracticeRecord | None = None,
    values: dict[str, str] | None = None,
    problem: str | None = None,
) -> Reply:
    """The practice form, filled in from ``values`` (what was typed) or ``record``."""
    values = dict(values or {})
    if record is not None:
        values.setdefault("title", record.title)
        values.setdefault("text", record.body)
        values.setdefault("kind", record.kind)
        values.setdefault("tags", ", ".join(record.tag_text.split()))
        values.setdefault("links", "\n".join(record.links))
        if record.area_id is not None:
            area = await turn.uow.areas.get(record.area_id)
            values.setdefault("area", area.name if area else rules.ALL_AREAS)
        if record.meeting_id is not None:
            values.setdefault("meeting", str(record.meeting_id))
    if "area" not in values:
        area = await turn.uow.areas.get(turn.member.area_id) if turn.member.area_id else None
        values["area"] = area.name if area else rules.ALL_AREAS
    if "meeting" not in values:
        # A forum on now is the one it is being shared at.
        on_now = await turn.uow.practice.meeting_on(turn.now, turn.member.area_id)
        values["meeting"] = str(on_now.id) if on_now else NO_MEETING
    meeting_options = await _meeting_options(turn, record.meeting_id if record else None)
    chosen_meeting = next((v for v, _ in meeting_options if v == values["meeting"]), NO_MEETING)
    editing = record is not None and record.status == PUBLISHED
    title = f"Edit practice #{record.id}" if editing and record else "Share practice"
    blocks: list = [Heading(title)]
    if problem:
        blocks.append(Paragraph(problem, Tone.WARNING))
    if record is not None and record.source_author:
        when = _when(record.source_at, await turn.zone()) if record.source_at else ""
        blocks.append(
            Paragraph(
                f"From {as_typed(record.source_author)}'s message{f' of {when}' if when else ''}."
            )
        )
    area_options = await _area_options(turn)
    chosen_area = next(
        (v for v, _ in area_options if v.casefold() == values["area"].casefold()), None
    )
    blocks += [
        TextInput(
            "title", "Title", values.get("title", ""), multiline=False, max_length=rules.MAX_TITLE
        ),
        TextInput(
            "text",
            "The story or idea",
            values.get("text", ""),
            max_length=rules.MAX_TEXT,
            placeholder="What did you do, what happened, what would you tell a colleague?",
        ),
        ChoiceInput("kind", "Kind", KIND_LABELS, values.get("kind") or "idea"),
        TextInput(
            "tags",
            "Tags (separated by commas)",
            values.get("tags", ""),
            multiline=False,
            max_length=300,
            placeholder="engagement, parents",
        ),
        ChoiceInput("area", "Area", area_options, chosen_area),
        TextInput(
            "links",
            "Links (one per line)",
            values.get("links", ""),
            max_length=rules.MAX_LINKS * (rules.MAX_LINK + 1),
            placeholder="https://",
        ),
        ChoiceInput("meeting", "Shared at a forum meeting", meeting_options, chosen_meeting),
        Actions(
            (
                Button(
                    "Save" if editing else "Share",
                    f"practice save {record.id}" if record is not None else "practice save",
                    ButtonStyle.PRIMARY,
                ),
            )
        ),
    ]
    summary = (
        f"{title}: fill in the title, the story or idea, its kind, tags, area, links and the "
        "forum meeting it was shared at."
    )
    if problem:
        summary = f"{problem} {summary}"
    return Reply(View(summary=summary, blocks=tuple(blocks)), private=True, is_form=True)


def _form_fields(turn: Turn, known: set[str]) -> Fields:
    message = turn.message
    return rules.check(
        title=message.form_value("title") or "",
        text=message.form_value("text") or "",
        kind=message.form_value("kind") or "idea",
        tags=rules.split_tags(message.form_value("tags") or ""),
        area=message.form_value("area"),
        links=(message.form_value("links") or "").split(),
        known_tags=known,
    )


async def _apply(turn: Turn, record: PracticeRecord, fields: Fields) -> None:
    area_id = None
    if fields.area is not None:
        area = await turn.uow.areas.by_name(fields.area)
        if area is None:
            names = ", ".join(a.name for a in await turn.uow.areas.all()) or "none yet"
            raise Problem(f"There's no area called {fields.area}. The areas are: {names}.")
        area_id = area.id
    record.title, record.body, record.kind = fields.title, fields.text, fields.kind
    record.links = list(fields.links)
    record.area_id = area_id
    record.updated_at = turn.now
    if record.id is None:
        await turn.uow.practice.add(record)
    await turn.uow.practice.set_tags(record, fields.tags)


async def _set_meeting(turn: Turn, record: PracticeRecord, meeting_id: int) -> None:
    await _check_meeting(turn, meeting_id)
    record.meeting_id = meeting_id


async def _check_meeting(turn: Turn, meeting_id: int) -> None:
    meeting = await turn.uow.meetings.get(meeting_id)
    if meeting is None:
        raise Problem(f"There's no meeting {meeting_id}; see `meetings`.")
    if meeting.starts_at > turn.now:
        raise Problem(
            f"Meeting {meeting_id} ({meeting.title}) hasn't happened yet: practice is linked to "
            "the forum it was shared at."
        )


def _form_meeting(turn: Turn) -> int | bool | None:
    """The form's meeting choice: an id, None for "not at a forum", False when the form had no
    such field (an older card)."""
    chosen = turn.message.form_value("meeting")
    if chosen is None:
        return False
    if chosen == NO_MEETING or not chosen:
        return None
    if not chosen.isdigit():
        raise Problem("Pick the forum meeting from the list, or “Not shared at a forum”.")
    return int(chosen)


async def _publish(
    turn: Turn, record: PracticeRecord, *, meeting_id: int | None, chosen: bool = False
) -> None:
    """Publish; ``chosen`` means the member picked the meeting (or none) on the form."""
    if meeting_id is not None:
        await _set_meeting(turn, record, meeting_id)
    elif chosen:
        record.meeting_id = None
    elif record.meeting_id is None:
        # Shared while a forum is on: it was shared at that forum.
        meeting = await turn.uow.practice.meeting_on(turn.now, record.area_id)
        record.meeting_id = meeting.id if meeting else None
    record.status = PUBLISHED
    record.published_at = turn.now


def _new_record(turn: Turn) -> PracticeRecord:
    return PracticeRecord(
        title="",
        body="",
        kind="idea",
        links=[],
        tag_text="",
        author_id=turn.member.id,
        organisation_id=turn.member.organisation_id,
        status=DRAFT,
        created_at=turn.now,
        updated_at=turn.now,
    )


def _saved(record: PracticeRecord, *, verb: str) -> Reply:
    text = f"{verb} practice #{record.id}: {as_typed(record.title)}."
    return Reply(
        View(
            summary=text,
            blocks=(
                Paragraph(text, Tone.GOOD),
                Actions(
                    (
                        Button("Open", f"practice {record.id}"),
                        Button("Edit", f"practice edit {record.id}"),
                    )
                ),
            ),
        )
    )


async def share(turn: Turn, command: Command) -> Sequence[Reply]:
    title, text = command.get("title"), command.get("text")
    if title is None and text is None and not command.args.get("kind"):
        return (await form_reply(turn),)
    if title is not None and not _QUOTED_TITLE.search(turn.message.text):
        raise Refusal(
            'Put the title in quotes, then the text and its #tags: practice share "Cooking '
            'nights" Parents came to cook with their children #engagement #parents'
        )
    body, tags = rules.hashtags(text or "")
    link = command.get("link")
    try:
        fields = rules.check(
            title=title or "",
            text=body,
            kind=command.get("kind") or "idea",
            tags=tags,
            area=command.get("area"),
            links=(link,) if link else (),
            known_tags=await _known_tags(turn),
        )
        if command.get("area") is None:
            fields = await _member_area(turn, fields)
        record = _new_record(turn)
        await _apply(turn, record, fields)
        await _publish(turn, record, meeting_id=command.get("meeting"))
    except Problem as problem:
        raise Refusal(str(problem)) from None
    return (_saved(record, verb="Shared"),)


async def _member_area(turn: Turn, fields: Fields) -> Fields:
    if turn.member.area_id is None:
        return fields
    area = await turn.uow.areas.get(turn.member.area_id)
    if area is None:
        return fields
    return Fields(fields.title, fields.text, fields.kind, fields.tags, area.name, fields.links)


async def save(turn: Turn, command: Command) -> Sequence[Reply]:
    """The form's button: a new record, a draft made from a message, or an edit."""
    record_id = command.get("id")
    values = {item.name: item.value for item in turn.message.form}
    record = None
    if record_id is not None:
        record = await _own_record(turn, record_id, action="change")
        if record.status == WITHDRAWN:
            raise Refusal(f"Practice #{record.id} was withdrawn; share it again instead.")
    try:
        fields = _form_fields(turn, await _known_tags(turn))
        meeting = _form_meeting(turn)
        if meeting:
            await _check_meeting(turn, meeting)  # before anything is saved
        target = record if record is not None else _new_record(turn)
        await _apply(turn, target, fields)
        if target.status != PUBLISHED:
            await _publish(
                turn,
                target,
                meeting_id=meeting or None,
                chosen=meeting is not False,
            )
            verb = "Shared"
        else:
            if meeting is not False:
                if meeting is None:
                    target.meeting_id = None
                else:
                    await _set_meeting(turn, target, meeting)
            verb = "Saved"
    except Problem as problem:
        # The form again, as it was filled in, with what to put right.
        return (await form_reply(turn, record=record, values=values, problem=str(problem)),)
    return (_saved(target, verb=verb),)


async def draft(turn: Turn, command: Command) -> Sequence[Reply]:
    """A chat message, sent by a message shortcut: saved as a draft with its author, link and
    time, then the form to finish it."""
    form = turn.message.form_value
    text = (form("text") or "").strip()
    if not text:
        raise Refusal("That message has no text to save to the practice library.")
    first_line = " ".join(text.split("\n", 1)[0].split())
    title = first_line if len(first_line) <= DRAFT_TITLE else _shorten(first_line, DRAFT_TITLE)
    record = _new_record(turn)
    record.title, record.body = title, text[: rules.MAX_TEXT]
    record.area_id = turn.member.area_id
    record.source_author = (form("source_author") or "")[:200] or None
    link = form("source_url") or ""
    record.source_url = link if rules.is_link(link) else None
    record.source_at = _parse_time(form("source_at"))
    # Said during a forum: the draft was shared at it (the form shows it, to keep or change).
    said_at = await turn.uow.practice.meeting_on(record.source_at or turn.now, record.area_id)
    record.meeting_id = said_at.id if said_at else None
    await turn.uow.practice.add(record)
    return (await form_reply(turn, record=record),)


def _shorten(text: str, limit: int) -> str:
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def _own_record(turn: Turn, record_id: int, *, action: str) -> PracticeRecord:
    record = await turn.uow.practice.get(record_id)
    if record is None or (record.status != PUBLISHED and record.author_id != turn.member.id):
        raise Refusal(f"There's no practice record #{record_id}. Try `practice recent`.")
    if not may_change_record(
        turn.roles, turn.member.id, record.author_id, withdrawing=action == "withdraw"
    ):
        raise Refusal(f"Only the member who shared practice #{record_id} can {action} it.")
    return record


async def edit(turn: Turn, command: Command) -> Sequence[Reply]:
    record = await _own_record(turn, command.get("id"), action="change")
    if record.status == WITHDRAWN:
        raise Refusal(f"Practice #{record.id} was withdrawn; share it again instead.")
    meeting_id = command.get("meeting")
    if meeting_id is None:
        return (await form_reply(turn, record=record),)
    try:
        await _set_meeting(turn, record, meeting_id)
    except Problem as problem:
        raise Refusal(str(problem)) from None
    record.updated_at = turn.now
    meeting = await turn.uow.meetings.get(meeting_id)
    assert meeting is not None  # _set_meeting found it
    zone = await turn.zone()
    return (
        text_reply(
            f"Practice #{record.id} ({record.title}) was shared at {meeting.title}, "
            f"{_when(meeting.starts_at, zone)}.",
            tone=Tone.GOOD,
        ),
    )


async def withdraw(turn: Turn, command: Command) -> Sequence[Reply]:
    record = await _own_record(turn, command.get("id"), action="withdraw")
    if record.status == WITHDRAWN:
        raise Refusal(f"Practice #{record.id} is already withdrawn.")
    record.status = WITHDRAWN
    record.withdrawn_at = record.updated_at = turn.now
    await turn.uow.session.flush()
    return (
        text_reply(
            f"Withdrew practice #{record.id}: {record.title}. It no longer shows in the library.",
            tone=Tone.GOOD,
        ),
    )


# -- finding ---------------------------------------------------------------------------------


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d %b %Y, %H:%M").lstrip("0")


async def _byline(turn: Turn, records: Sequence[PracticeRecord]) -> dict[int, str]:
    """Record id -> "Ann Lee · Marr · story"."""
    authors = await turn.uow.practice.authors_of(records)
    areas = {area.id: area.name for area in await turn.uow.areas.all()}
    lines = {}
    for record in records:
        parts = [
            authors.get(record.author_id or 0, "a former member"),
            areas.get(record.area_id or 0, "whole partnership"),
            record.kind,
        ]
        lines[record.id] = as_typed(" · ".join(parts))
    return lines


async def _listing(
    turn: Turn, heading: str, records: Sequence[PracticeRecord], snippets: dict[int, str]
) -> Reply:
    bylines = await _byline(turn, records)
    blocks: list = [Heading(heading)]
    for record in records:
        blocks.append(Paragraph(f"#{record.id} {as_typed(record.title)}", Tone.STRONG))
        if snippets.get(record.id):
            blocks.append(Paragraph(as_typed(snippets[record.id])))
        blocks.append(Paragraph(bylines[record.id], Tone.MUTED))
        blocks.append(Actions((Button("Open", f"practice {record.id}"),)))
    summary = f"{heading}: " + "; ".join(f"#{r.id} {as_typed(r.title)}" for r in records)
    return Reply(View(summary=summary, blocks=tuple(blocks)))


async def _tag_option(turn: Turn, raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return rules.check_tags([rules.tag_of(raw)], await _known_tags(turn))[0]
    except Problem as problem:
        raise Refusal(str(problem)) from None


async def search(turn: Turn, command: Command) -> Sequence[Reply]:
    words = command.get("words")
    terms = search_terms(words)
    if not terms:
        raise Refusal(
            f"`{words[:60]}` has no words to search for (words like the, and, of are left "
            "out). Try `practice search family cooking`."
        )
    tag = await _tag_option(turn, command.get("tag"))
    area_id = None
    if command.get("area") is not None:
        area = await turn.uow.areas.by_name(command.get("area"))
        if area is None:
            names = ", ".join(a.name for a in await turn.uow.areas.all()) or "none yet"
            raise Refusal(f"There's no area called {command.get('area')}. The areas are: {names}.")
        area_id = area.id
    hits = await turn.uow.practice.search(terms, tag=tag, area_id=area_id, limit=MAX_RESULTS)
    shown = " ".join(t.word + ("*" if t.prefix else "") for t in terms)
    if not hits:
        return (
            text_reply(
                f"Nothing in the practice library matches {shown}. Try fewer words, the start "
                "of a word with * (engag*), or browse with `practice tags`."
            ),
        )
    snippets = {hit.record.id: hit.snippet for hit in hits}
    heading = f"Practice matching {shown}"
    if tag:
        heading += f", tagged {tag}"
    return (await _listing(turn, heading, [hit.record for hit in hits], snippets),)


async def recent(turn: Turn, command: Command) -> Sequence[Reply]:
    records = await turn.uow.practice.recent(limit=MAX_RESULTS)
    if not records:
        return (
            text_reply(
                "The practice library is empty so far. Share something with `practice share`."
            ),
        )
    return (await _listing(turn, "Newest practice", records, {}),)


async def tags(turn: Turn, command: Command) -> Sequence[Reply]:
    counts = await turn.uow.practice.tag_counts()
    unused = sorted(await _known_tags(turn) - set(counts))
    blocks: list = [Heading("Practice tags")]
    if counts:
        blocks.append(BulletList(tuple(f"{tag} ({n})" for tag, n in counts.items())))
        top = sorted(counts, key=lambda t: (-counts[t], t))[:10]
        blocks.append(Actions(tuple(Button(tag, f"practice tag {tag}") for tag in top)))
    blocks.append(Paragraph("Not used yet: " + ", ".join(unused), Tone.MUTED))
    summary = "Practice tags: " + ", ".join(f"{t} ({n})" for t, n in counts.items())
    return (Reply(View(summary=summary, blocks=tuple(blocks))),)


async def with_tag(turn: Turn, command: Command) -> Sequence[Reply]:
    tag = await _tag_option(turn, command.get("tag"))
    assert tag is not None
    records = await turn.uow.practice.with_tag(tag, limit=20)
    if not records:
        return (text_reply(f"No practice is tagged {tag} yet."),)
    return (await _listing(turn, f"Practice tagged {tag}", records, {}),)


async def tag_add(turn: Turn, command: Command) -> Sequence[Reply]:
    tag = rules.tag_of(command.get("tag"))
    try:
        rules.check_tags([tag], {tag})
    except Problem as problem:
        raise Refusal(str(problem)) from None
    if tag in rules.BUILT_IN_TAGS or not await turn.uow.practice.add_tag(
        tag, by=turn.member.id, now=turn.now
    ):
        return (text_reply(f"`{tag}` is already a practice tag."),)
    return (text_reply(f"Members can now tag practice with `{tag}`.", tone=Tone.GOOD),)


async def show(turn: Turn, command: Command) -> Sequence[Reply]:
    record_id = command.get("id")
    record = await turn.uow.practice.get(record_id)
    if record is None or (record.status != PUBLISHED and record.author_id != turn.member.id):
        known = await turn.uow.practice.recent(limit=1)
        hint = " Try `practice recent`." if known else ""
        raise Refusal(f"There's no practice record #{record_id}.{hint}")
    zone = await turn.zone()
    author = await turn.uow.members.get(record.author_id) if record.author_id else None
    organisation = (
        await turn.uow.organisations.get(record.organisation_id) if record.organisation_id else None
    )
    area = await turn.uow.areas.get(record.area_id) if record.area_id else None
    facts = [
        ("Kind", record.kind),
        ("Tags", ", ".join(record.tag_text.split()) or "none"),
        ("Area", area.name if area else "whole partnership"),
        (
            "Shared by",
            (author.display_name if author else "a former member")
            + (f", {organisation.name}" if organisation else ""),
        ),
    ]
    if record.published_at:
        facts.append(("Shared", _when(record.published_at, zone)))
    if record.meeting_id:
        meeting = await turn.uow.meetings.get(record.meeting_id)
        if meeting is not None:
            facts.append(("At", f"{meeting.title}, {_when(meeting.starts_at, zone)}"))
    if record.source_author:
        facts.append(
            (
                "From a message by",
                record.source_author
                + (f", {_when(record.source_at, zone)}" if record.source_at else ""),
            )
        )
    if record.status != PUBLISHED:
        facts.append(("Status", record.status))
    # Everything but the labels is what members typed (names, titles, the story) or plain.
    blocks: list = [Heading(f"#{record.id} {as_typed(record.title)}")]
    if record.body:
        blocks.append(Paragraph(as_typed(record.body)))
    blocks.append(Facts(tuple((label, as_typed(value)) for label, value in facts)))
    if record.links:
        blocks.append(BulletList(tuple(as_typed(link) for link in record.links)))
    buttons = [Button(f"Link {n}", "", url=link) for n, link in enumerate(record.links, 1)]
    if record.source_url:
        buttons.append(Button("Original message", "", url=record.source_url))
    if record.author_id == turn.member.id and record.status != WITHDRAWN:
        buttons += [
            Button("Edit", f"practice edit {record.id}"),
            Button("Withdraw", f"practice withdraw {record.id}", ButtonStyle.DANGER),
        ]
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    summary = as_typed(f"#{record.id} {record.title} ({record.kind}, {facts[3][1]})")
    return (Reply(View(summary=summary, blocks=tuple(blocks))),)


HANDLERS = {
    ("practice", "share"): share,
    ("practice", "save"): save,
    ("practice", "draft"): draft,
    ("practice", "edit"): edit,
    ("practice", "withdraw"): withdraw,
    ("practice", "search"): search,
    ("practice", "recent"): recent,
    ("practice", "tags"): tags,
    ("practice", "tag"): with_tag,
    ("practice",): show,
    ("tag", "add"): tag_add,
}
