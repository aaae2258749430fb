"""What a check-in report is built from: plain values, loaded from the database by the check-in
service and turned into Markdown, CSV, DOCX, PNG or a chat view by ``reports``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.frameworks import Framework


@dataclass(frozen=True, slots=True)
class Answer:
    """One member's answer to one question. ``member`` and ``organisation`` are None in
    anonymous cycles. ``texts`` maps a framework prompt key (``working_well``, ``evidence``,
    ``priorities``) to what was written; empty prompts are absent."""

    area: str
    question: int
    rating: int | None
    texts: Mapping[str, str] = field(default_factory=dict)
    member: str | None = None
    organisation: str | None = None


@dataclass(frozen=True, slots=True)
class CycleFacts:
    id: int
    framework: Framework
    questions: tuple[int, ...]
    areas: tuple[str, ...]
    anonymous: bool
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    # Per area: members invited, and members who answered at least one question.
    invited: Mapping[str, int]
    responded: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ActionProgress:
    """An action that came out of the previous cycle's improvement priorities, and where it
    stands now."""

    id: int
    text: str
    area: str | None
    question: int | None
    owner: str | None
    due_on: date | None
    done: bool


@dataclass(frozen=True, slots=True)
class ReportData:
    cycle: CycleFacts
    answers: tuple[Answer, ...]
    # The last earlier cycle of the same framework, for "change since last time".
    previous: ReportData | None = None
    # In anonymous cycles an area with fewer respondents than this is left out of the report,
    # so nobody can be recognised from a small group's answers.
    min_respondents: int = 5
    timezone: str = "Europe/London"
    # The previous cycle's action plan: what this cycle can show progress on.
    actions: tuple[ActionProgress, ...] = ()
