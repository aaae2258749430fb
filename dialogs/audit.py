"""``audit``: what coordinators did - cycles opened and closed, roles changed, reports exported,
data erased - newest first, for coordinators and managers."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from dialogs.parser import Command
from dialogs.turn import Turn
from dialogs.views import BulletList, Heading, Paragraph, Reply, Tone, View

SHOWN = 30


async def audit(turn: Turn, command: Command) -> Sequence[Reply]:
    action = command.get("action")
    events = await turn.uow.audit.recent(limit=SHOWN, action=action)
    heading = "Audit trail" + (f": {action}" if action else "")
    if not events:
        text = "Nothing recorded yet." if action is None else f"No '{action}' recorded yet."
        return (Reply(View(f"{heading}: {text}", (Heading(heading), Paragraph(text, Tone.MUTED)))),)
    zone = ZoneInfo(await turn.zone_name())
    lines = tuple(
        f"{event.at.astimezone(zone):%d %b %Y %H:%M} - {event.actor_name} - "
        f"{event.action}: {event.subject}"
        for event in events
    )
    blocks: list = [Heading(heading), BulletList(lines)]
    if len(events) == SHOWN:
        blocks.append(
            Paragraph(
                f'The latest {SHOWN}; narrow it with `audit action="role changed"`.', Tone.MUTED
            )
        )
    return (Reply(View(f"{heading}: {len(events)} events", tuple(blocks))),)


HANDLERS = {("audit",): audit}
