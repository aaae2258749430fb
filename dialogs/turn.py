"""What a handler gets: the member, their roles, the transaction, the time."""

from __future__ import annotations

import zoneinfo
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dialogs.grammar import Role
from dialogs.messages import IncomingMessage
from dialogs.parser import Command
from dialogs.views import Reply
from storage.models import Member
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from config.frameworks import Framework


@dataclass(frozen=True, slots=True)
class Partnership:
    """Partnership-wide policy the core needs (built by the composition root from settings)."""

    timezone: str = "Europe/London"
    admins: frozenset[str] = frozenset()
    # Development with no admins: the first person to talk to a fresh install is coordinator.
    first_contact_becomes_coordinator: bool = False
    frameworks: Mapping[str, Framework] = field(default_factory=dict)
    # Where report downloads are served: "{public_url}/exports/{token}".
    public_url: str = "http://127.0.0.1:3978"
    # Months a closed check-in's answers are kept (0: until members erase them), and who to ask
    # about personal data; both are told in the privacy notice.
    retention_months: int = 0
    privacy_contact: str = ""
    # Anonymous check-ins' reports leave out areas with fewer respondents than this (unless the
    # cycle was opened with its own min=).
    min_respondents: int = 5


class Refusal(Exception):
    """A command that cannot be done as asked; raised before anything is written."""


@dataclass(slots=True)
class Turn:
    uow: UnitOfWork
    message: IncomingMessage
    member: Member
    roles: frozenset[str]
    now: datetime
    partnership: Partnership
    # The ids of the areas the member coordinates (a partnership coordinator coordinates all,
    # without rows here); dialogs/permissions.py decides what that lets them do.
    coordinates: frozenset[int] = frozenset()

    @property
    def is_coordinator(self) -> bool:
        """A partnership coordinator."""
        return Role.COORDINATOR in self.roles

    @property
    def is_area_coordinator(self) -> bool:
        return bool(self.coordinates)

    @property
    def is_manager(self) -> bool:
        return Role.MANAGER in self.roles

    async def zone_name(self) -> str:
        """The member's zone, else their area's, else the partnership's."""
        if self.member.timezone:
            return self.member.timezone
        if self.member.area_id is not None:
            area = await self.uow.areas.get(self.member.area_id)
            if area is not None and area.timezone:
                return area.timezone
        return self.partnership.timezone

    async def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(await self.zone_name())


Handler = Callable[[Turn, Command], Awaitable[Sequence[Reply]]]
