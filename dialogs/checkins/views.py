"""What members and coordinators see of a check-in (neutral views)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dialogs.views import (
    Actions,
    Button,
    ButtonStyle,
    ChoiceInput,
    Facts,
    Heading,
    Paragraph,
    TextInput,
    Tone,
    View,
)
from storage.models import Cycle, Response

if TYPE_CHECKING:
    from config.frameworks import Framework

MAX_ANSWER = 3000


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M")


def invitation(framework: Framework, cycle: Cycle, zone: str) -> View:
    count = len(cycle.questions)
    facts = [
        ("Questions", f"{count} ({', '.join(map(str, cycle.questions))})"),
        ("Closes", f"{local(cycle.closes_at, zone)} ({zone})"),
    ]
    note = (
        "This check-in is anonymous: your answers are stored without your name, so once "
        "given they can't be changed."
        if cycle.anonymous
        else "Your answers are saved as you go, and you can change them until it closes."
    )
    return View(
        summary=f"Partnership check-in: {framework.short_title}, {count} questions, closes "
        f"{local(cycle.closes_at, zone)}",
        blocks=(
            Heading("Partnership check-in"),
            Paragraph(framework.title, Tone.STRONG),
            Facts(tuple(facts)),
            Paragraph(note, Tone.MUTED),
            Actions((Button("Start", "checkin", ButtonStyle.PRIMARY),)),
        ),
    )


def reminder(framework: Framework, cycle: Cycle, zone: str, answered: int) -> View:
    total = len(cycle.questions)
    progress = (
        f"{answered} of {total} question{'s' if total != 1 else ''} answered"
        if answered
        else f"none of its {total} question{'s' if total != 1 else ''} answered yet"
    )
    text = (
        f"A reminder: the {framework.short_title} check-in closes "
        f"{local(cycle.closes_at, zone)}; {progress}."
    )
    return View(
        summary=text,
        blocks=(
            Paragraph(text),
            Actions((Button("Continue", "checkin", ButtonStyle.PRIMARY),)),
        ),
    )


def question(
    framework: Framework, cycle: Cycle, number: int, *, previous: Response | None = None
) -> View:
    q = framework.question(number)
    position = cycle.questions.index(number) + 1
    total = len(cycle.questions)
    scale = framework.scale
    options = tuple(
        (str(level.value), f"{level.value} {level.label} - {level.description}")
        for level in scale.levels
    )
    texts = previous.texts if previous else {}
    blocks = [
        Heading(f"{framework.short_title}: question {position} of {total}"),
        Paragraph(f"{q.number}. {q.text}", Tone.STRONG),
        ChoiceInput(
            "rating",
            f"Your rating ({scale.name})",
            options,
            value=str(previous.rating) if previous and previous.rating else None,
        ),
        *(
            TextInput(p.key, p.text, value=texts.get(p.key, ""), max_length=MAX_ANSWER)
            for p in framework.prompts
        ),
        Actions(
            (
                Button("Save and next", f"checkin answer {cycle.id} {number}", ButtonStyle.PRIMARY),
                Button("Skip", f"checkin skip {cycle.id} {number}"),
                Button("Later", "checkin later"),
            )
        ),
        Paragraph(
            f"Or type your rating ({max(scale.values)} to {min(scale.values)}) and I'll "
            "ask the reflection questions one at a time. `skip` and `later` work too.",
            Tone.MUTED,
        ),
    ]
    return View(
        summary=f"Question {position} of {total}: {q.number}. {q.text}", blocks=tuple(blocks)
    )


def prompt_text(text: str) -> View:
    return View(
        summary=text,
        blocks=(
            Paragraph(text),
            Paragraph(
                "Type your answer, `-` to leave this one empty, or `skip` for the rest of "
                "this question.",
                Tone.MUTED,
            ),
        ),
    )


def finished(framework: Framework, cycle: Cycle, zone: str) -> View:
    if cycle.anonymous:
        note = "Your answers are recorded anonymously. Thank you!"
        buttons: tuple[Button, ...] = ()
    else:
        note = f"Thank you! You can change any answer until {local(cycle.closes_at, zone)}."
        buttons = tuple(
            Button(f"Change {n}", f"checkin edit {cycle.id} {n}") for n in cycle.questions
        )
    blocks = [
        Heading(f"{framework.short_title}: all {len(cycle.questions)} questions done"),
        Paragraph(note, Tone.GOOD),
    ]
    if buttons:
        blocks.append(Actions(buttons))
    return View(summary=f"All {len(cycle.questions)} questions done. {note}", blocks=tuple(blocks))
