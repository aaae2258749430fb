"""``help`` and ``help <topic>``, written from the grammar so they never drift from it."""

from __future__ import annotations

from collections.abc import Sequence

from dialogs.grammar import TOPICS, Who, commands_in, topic_for
from dialogs.parser import Command
from dialogs.privacy.views import notice
from dialogs.turn import Refusal, Turn
from dialogs.views import Actions, BulletList, Button, Heading, Paragraph, Reply, Tone, View

INTRO = (
    "I help this learning partnership evaluate its work together, meet in forums and share "
    "practice. Type a command, or pick a topic."
)


async def help_command(turn: Turn, command: Command) -> Sequence[Reply]:
    word = command.get("topic")
    if word is None:
        view = overview(coordinator=turn.is_coordinator)
        if turn.coordinates and not turn.is_coordinator:
            areas = [await turn.uow.areas.get(area_id) for area_id in turn.coordinates]
            names = ", ".join(sorted(a.name for a in areas if a is not None))
            note = Paragraph(
                f"You coordinate {names}: commands marked (coordinator) are yours for "
                f"{'that area' if len(areas) == 1 else 'those areas'}.",
                Tone.MUTED,
            )
            view = View(view.summary, (*view.blocks[:3], note, *view.blocks[3:]))
        return (Reply(view),)
    topic = topic_for(word)
    if topic is None:
        raise Refusal(f"There's no help topic `{word}`. Topics: {', '.join(TOPICS)}.")
    view = topic_view(topic, coordinator=turn.is_coordinator)
    if topic == "privacy":
        view = View(view.summary, (*view.blocks, *notice(turn.partnership)))
    return (Reply(view),)


def overview(*, coordinator: bool) -> View:
    lines = tuple(f"{topic} - {text}" for topic, text in TOPICS.items())
    blocks = [
        Heading("partnerbot"),
        Paragraph(INTRO),
        BulletList(lines),
        Paragraph(
            "Start with `me` to see your profile, and `me area <area>` to join your area.",
            Tone.MUTED,
        ),
        Actions(tuple(Button(topic.capitalize(), f"help {topic}") for topic in TOPICS)),
    ]
    if coordinator:
        blocks.insert(
            3,
            Paragraph(
                "You are a partnership coordinator: commands marked (coordinator) and "
                "(partnership coordinator) are yours too, for every area.",
                Tone.MUTED,
            ),
        )
    return View(summary="partnerbot help: " + ", ".join(TOPICS), blocks=tuple(blocks))


def topic_view(topic: str, *, coordinator: bool) -> View:
    lines = []
    for spec in commands_in(topic):
        marker = {
            Who.ANYONE: "",
            Who.COORDINATORS: " (coordinator)",
            Who.PARTNERSHIP: " (partnership coordinator)",
            Who.LEADS: " (coordinator, manager)",
            Who.OVERSIGHT: " (partnership coordinator, manager)",
        }[spec.who]
        lines.append(f"{spec.usage} - {spec.summary}{marker}")
    blocks = [Heading(f"Help: {TOPICS[topic]}"), BulletList(tuple(lines))]
    if not coordinator and any(spec.coordinator_only for spec in commands_in(topic)):
        blocks.append(
            Paragraph(
                "Commands marked (coordinator) are for coordinators: an area's coordinators "
                "run them for their own area, partnership coordinators for every area; "
                "(partnership coordinator), for partnership coordinators only; (manager), "
                "programme managers too.",
                Tone.MUTED,
            )
        )
    return View(summary=f"Help: {TOPICS[topic]}", blocks=tuple(blocks))
