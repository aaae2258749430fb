"""Who may do what: the one place that decides.

Every command, typed or sent by a button, passes ``may_run`` in the core before its handler runs,
so a member who forges a button's payload (a coordinator's command, a report export) meets the
same refusal as one who types it. What a command acts on is checked by the rules below, which the
handlers call: the area a check-in, a meeting or a cadence belongs to, an action item, a practice
record. A member's own answers need no rule: a command acts on the sender's answers only,
whoever's cycle and question numbers it names.

The roles: every member; an expert; a programme manager (reads reports and the audit trail); a
coordinator of one or more areas (runs the coordinators' commands for those areas only); a
partnership coordinator (runs every command, for every area and the partnership as a whole, and
alone gives roles and adds areas).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from dialogs.grammar import CommandSpec, Role, Who
from dialogs.turn import Refusal, Turn

WHOLE_PARTNERSHIP = None  # the area of what belongs to no one area (a forum for all, areas=all)


def may(who: Who, roles: Set[str], areas: Set[int] = frozenset()) -> bool:
    """Whether someone with ``roles``, coordinating ``areas``, may run a command for ``who``."""
    if who is Who.ANYONE or Role.COORDINATOR in roles:
        return True
    if who is Who.COORDINATORS:
        return bool(areas)
    if who is Who.LEADS:
        return bool(areas) or Role.MANAGER in roles
    if who is Who.OVERSIGHT:
        return Role.MANAGER in roles
    return False  # Who.PARTNERSHIP


def may_run(spec: CommandSpec, roles: Set[str], areas: Set[int] = frozenset()) -> bool:
    return may(spec.who, roles, areas)


def refusal(spec: CommandSpec) -> str:
    if spec.who in (Who.COORDINATORS, Who.PARTNERSHIP):
        ask = f"Ask one of your {spec.who.value}, or see `help` for what you can do."
    else:
        ask = "Ask a coordinator if you need it."
    return f"Sorry, `{spec.name}` is for {spec.who.value}. {ask}"


async def refused(turn: Turn, spec: CommandSpec) -> str:
    """The refusal of a command, saying which areas an area coordinator does coordinate."""
    text = refusal(spec)
    if turn.coordinates:
        text += f" You coordinate {await _names(turn, turn.coordinates)}."
        text += await _ask_partnership(turn)
    return text


def may_act_on(roles: Set[str], areas: Set[int], area_id: int | None) -> bool:
    """Whether a coordinator may act on what belongs to ``area_id`` (None: the whole
    partnership): a partnership coordinator on anything, an area coordinator on their areas."""
    if Role.COORDINATOR in roles:
        return True
    return area_id is not None and area_id in areas


def may_act(turn: Turn, area_id: int | None) -> bool:
    return may_act_on(turn.roles, turn.coordinates, area_id)


async def require_areas(turn: Turn, area_ids: Iterable[int | None], *, what: str) -> None:
    """Refuse (before anything is written) unless the sender may act on every one of
    ``area_ids``; ``what`` finishes "you can't ...", e.g. "cancel meeting 4 (Spring forum)"."""
    outside = list(dict.fromkeys(a for a in area_ids if not may_act(turn, a)))
    if not outside:
        return
    if turn.coordinates:
        reason = f"you coordinate {await _names(turn, turn.coordinates)}"
    else:
        reason = "you don't coordinate any area"
    if WHOLE_PARTNERSHIP in outside:
        reason += ", and that is for the whole partnership"
    others = [a for a in outside if a is not None]
    if others:
        reason += ", and " + await _coordinated_by(turn, others)
    raise Refusal(f"Sorry, you can't {what}: {reason}.{await _ask_partnership(turn)}")


def areas_in_view(turn: Turn, *, managers: bool = False) -> frozenset[int] | None:
    """The areas whose part of something partnership-wide (a check-in across areas) the sender
    sees and acts on: None for all of them (a partnership coordinator; a programme manager where
    ``managers``), else the areas they coordinate."""
    if turn.is_coordinator or (managers and turn.is_manager):
        return None
    return turn.coordinates


async def require_part(
    turn: Turn, area_ids: Iterable[int | None], *, what: str, managers: bool = False
) -> frozenset[int] | None:
    """The part of ``area_ids`` the sender may see (None: all of it); refused when that is
    nothing, e.g. an area coordinator asking about a check-in for other areas only."""
    visible = areas_in_view(turn, managers=managers)
    if visible is None:
        return None
    ids = list(area_ids)
    part = frozenset(a for a in ids if a is not None and a in visible)
    if not part:
        await require_areas(turn, ids, what=what)
    return part


def may_change_action(
    roles: Set[str],
    member_id: int,
    owner_id: int | None,
    by_id: int | None,
    *,
    areas: Set[int] = frozenset(),
    area_id: int | None = None,
) -> bool:
    """An action item: its owner, whoever added it, a coordinator of its area, or a
    partnership coordinator."""
    return member_id in (owner_id, by_id) or may_act_on(roles, areas, area_id)


def may_edit_action(roles: Set[str], member_id: int, owner_id: int | None) -> bool:
    """Who an action is given to and when it is due: its owner, or a coordinator."""
    return member_id == owner_id or Role.COORDINATOR in roles


def may_change_record(
    roles: Set[str], member_id: int, author_id: int | None, *, withdrawing: bool
) -> bool:
    """A practice record: its author; a coordinator may also withdraw it (not rewrite it)."""
    return member_id == author_id or (withdrawing and Role.COORDINATOR in roles)


async def _names(turn: Turn, area_ids: Iterable[int]) -> str:
    names = []
    for area_id in area_ids:
        area = await turn.uow.areas.get(area_id)
        if area is not None:
            names.append(area.name)
    return _and(sorted(names)) or "no area"


async def _coordinated_by(turn: Turn, area_ids: list[int]) -> str:
    posts = await turn.uow.members.area_coordinators()
    parts = []
    for area_id in area_ids:
        area = await turn.uow.areas.get(area_id)
        name = area.name if area is not None else f"area {area_id}"
        people = [m.display_name for m in posts.get(area_id, ())]
        if people:
            parts.append(f"{name} is coordinated by {_and(people)}")
        else:
            parts.append(f"{name} has no coordinator of its own")
    return "; ".join(parts)


async def _ask_partnership(turn: Turn) -> str:
    coordinators = await turn.uow.members.with_role(Role.COORDINATOR)
    if not coordinators:
        return " Ask a partnership coordinator."
    return f" Ask a partnership coordinator ({_and([m.display_name for m in coordinators])})."


def _and(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
