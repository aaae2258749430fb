"""The action plan: improvement priorities turned into owned, dated actions that the bot
follows up."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from dialogs.checkins.handlers import at_local, zone_of
from dialogs.directory.handlers import resolve_member
from dialogs.outbox import Kind, ToMember, cancel, queue
from dialogs.parser import Command, UsageError
from dialogs.permissions import may_change_action, may_edit_action
from dialogs.turn import Refusal, Turn
from dialogs.views import (
    Actions,
    BulletList,
    Button,
    Heading,
    Paragraph,
    Reply,
    Tone,
    View,
    text_reply,
)
from storage.models import ActionItem, Member

MAX_ACTION = 500
REMIND_BEFORE = (timedelta(days=3), timedelta(days=0))
REMIND_AT = time(9, 30)


def _key(item_id: int) -> str:
    return f"action:{item_id}:remind"


async def add(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    text = " ".join(command.get("text").split())
    if not text:
        raise Refusal('The action needs some text: action add "<what will be done>".')
    if len(text) > MAX_ACTION:
        raise Refusal(
            f"That action is too long ({len(text)} characters; the most is {MAX_ACTION})."
        )
    zone = await turn.zone_name()
    due: date | None = command.get("due")
    if due is not None and due < turn.now.astimezone(ZoneInfo(zone)).date():
        raise Refusal(f"The due date {due:%d %b %Y} is in the past.")
    area = None
    if command.get("area"):
        area = await uow.areas.by_name(command.get("area"))
        if area is None:
            raise Refusal(f"There's no area called {command.get('area')}.")
    elif turn.member.area_id is not None:
        area = await uow.areas.get(turn.member.area_id)
    owner = (
        await resolve_member(turn, command.get("owner")) if command.get("owner") else turn.member
    )
    cycle = await uow.checkins.open_cycle() or await uow.checkins.latest_cycle()
    question = command.get("question")
    item = await uow.actions.add(
        ActionItem(
            text=text,
            area_id=area.id if area else None,
            owner_id=owner.id,
            created_by_id=turn.member.id,
            cycle_id=cycle.id if cycle else None,
            question=question,
            due_on=due,
            status="open",
            created_at=turn.now,
        )
    )
    await _queue_reminders(turn, item, owner)
    parts = [f"Action {item.id} added"]
    if area:
        parts.append(f"for {area.name}")
    parts.append(f"owned by {owner.display_name}")
    if due:
        parts.append(f"due {due:%d %b %Y}")
    return (text_reply(" ".join(parts) + ".", tone=Tone.GOOD),)


async def _queue_reminders(turn: Turn, item: ActionItem, owner: Member, tag: str = "") -> None:
    """Remind the owner 3 days before the due date and on the day, at 09:30 their time.
    ``tag`` makes the keys new when an edit re-queues them (the old ones stay, cancelled)."""
    if item.due_on is None:
        return
    owner_zone = await zone_of(turn.uow, owner, turn.partnership.timezone)
    for before in REMIND_BEFORE:
        at = at_local(item.due_on - before, REMIND_AT, owner_zone)
        if at <= turn.now:
            continue
        when = "today" if not before.days else f"in {before.days} days"
        summary = f"Action {item.id} is due {when}: {item.text}"
        await queue(
            turn.uow,
            key=f"{_key(item.id)}:{tag}{before.days}d",
            kind=Kind.ACTION_REMINDER,
            to=ToMember(owner.id),
            due_at=at,
            now=turn.now,
            view=View(
                summary=summary,
                blocks=(
                    Paragraph(summary),
                    Actions((Button("Mark done", f"action done {item.id}"),)),
                ),
            ),
        )


async def edit(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    if command.get("owner") is None and command.get("due") is None:
        raise UsageError("say what to change: a new owner=, a new due=, or both.", command.spec)
    item = await uow.actions.get(command.get("id"))
    if item is None:
        raise Refusal(f"There's no action {command.get('id')}.")
    if not may_edit_action(turn.roles, turn.member.id, item.owner_id):
        raise Refusal("Only the action's owner or a coordinator can change it.")
    if item.status == "done":
        raise Refusal(f"Action {item.id} is done already; add a new one instead.")
    due: date | None = command.get("due")
    zone = await turn.zone_name()
    if due is not None and due < turn.now.astimezone(ZoneInfo(zone)).date():
        raise Refusal(f"The due date {due:%d %b %Y} is in the past.")
    owner = await resolve_member(turn, command.get("owner")) if command.get("owner") else None
    if owner is None and item.owner_id is not None:
        owner = await uow.members.get(item.owner_id)
    changed = []
    if owner is not None and owner.id != item.owner_id:
        item.owner_id = owner.id
        changed.append(f"owned by {owner.display_name}")
    if due is not None and due != item.due_on:
        item.due_on = due
        changed.append(f"due {due:%d %b %Y}")
    if not changed:
        return (text_reply(f"Action {item.id} already is as you say: nothing changed."),)
    # The reminders go to the owner as they are now, for the date as it is now.
    await cancel(uow, _key(item.id))
    if owner is not None:
        # New keys: the cancelled rows keep the old ones (two edits can share a moment).
        edit_tag = secrets.token_hex(4)
        await _queue_reminders(turn, item, owner, tag=f"{edit_tag}:")
        if owner.id != turn.member.id and command.get("owner"):
            summary = f"{turn.member.display_name} gave you action {item.id}: {item.text}"
            if item.due_on:
                summary += f" (due {item.due_on:%d %b %Y})"
            await queue(
                uow,
                key=f"action:{item.id}:owner:{owner.id}:{edit_tag}",
                kind=Kind.NOTICE,
                to=ToMember(owner.id),
                due_at=turn.now,
                now=turn.now,
                view=View(
                    summary=summary,
                    blocks=(
                        Paragraph(summary),
                        Actions((Button("Mark done", f"action done {item.id}"),)),
                    ),
                ),
            )
    return (
        text_reply(f"Action {item.id} is now {' and '.join(changed)}: {item.text}", tone=Tone.GOOD),
    )


async def listing(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    area = None
    if command.get("area"):
        area = await uow.areas.by_name(command.get("area"))
        if area is None:
            raise Refusal(f"There's no area called {command.get('area')}.")
    items = await uow.actions.listed(area_id=area.id if area else None)
    if not items:
        where = f" for {area.name}" if area else ""
        return (
            text_reply(
                f'No actions{where} yet. Add one with `action add "<text>" '
                "owner=<@member> due=YYYY-MM-DD`."
            ),
        )
    lines = []
    for item in items:
        owner = await uow.members.get(item.owner_id) if item.owner_id else None
        item_area = await uow.areas.get(item.area_id) if item.area_id else None
        bits = [f"{item.id}. {item.text}"]
        if item_area:
            bits.append(item_area.name)
        if owner:
            bits.append(owner.display_name)
        if item.due_on:
            late = item.status == "open" and item.due_on < turn.now.date()
            bits.append(f"due {item.due_on:%d %b %Y}" + (" (overdue)" if late else ""))
        bits.append("done" if item.status == "done" else "open")
        lines.append(" - ".join(bits))
    done = sum(1 for item in items if item.status == "done")
    title = f"Action plan{' for ' + area.name if area else ''}: {done} of {len(items)} done"
    return (Reply(View(summary=title, blocks=(Heading(title), BulletList(tuple(lines))))),)


async def done(turn: Turn, command: Command) -> Sequence[Reply]:
    item = await turn.uow.actions.get(command.get("id"))
    if item is None:
        raise Refusal(f"There's no action {command.get('id')}.")
    if not may_change_action(
        turn.roles,
        turn.member.id,
        item.owner_id,
        item.created_by_id,
        areas=turn.coordinates,
        area_id=item.area_id,
    ):
        raise Refusal("Only the action's owner or a coordinator of its area can mark it done.")
    if item.status == "done":
        return (text_reply(f"Action {item.id} was already done."),)
    item.status, item.done_at = "done", turn.now
    await cancel(turn.uow, _key(item.id))
    return (text_reply(f"Action {item.id} is done: {item.text}", tone=Tone.GOOD),)


HANDLERS = {
    ("action", "add"): add,
    ("actions",): listing,
    ("action", "edit"): edit,
    ("action", "done"): done,
}
