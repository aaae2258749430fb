"""Who may do what: the one place that decides.

Every command, typed or sent by a button, passes ``may_run`` in the core before its handler runs,
so a member who forges a button's payload (a coordinator's command, a report export) meets the
same refusal as one who types it. What a command acts on is checked by the rules below, which the
handlers call: an action item, a practice record. A member's own answers need no rule: a command
acts on the sender's answers only, whoever's cycle and question numbers it names.
"""

from __future__ import annotations

from collections.abc import Set

from dialogs.grammar import CommandSpec, Role, Who


def may(who: Who, roles: Set[str]) -> bool:
    if who is Who.ANYONE:
        return True
    if who is Who.COORDINATORS:
        return Role.COORDINATOR in roles
    return bool({Role.COORDINATOR, Role.MANAGER} & roles)


def may_run(spec: CommandSpec, roles: Set[str]) -> bool:
    return may(spec.who, roles)


def refusal(spec: CommandSpec) -> str:
    if spec.who is Who.COORDINATORS:
        ask = "Ask one of your coordinators, or see `help` for what you can do."
    else:
        ask = "Ask a coordinator if you need it."
    return f"Sorry, `{spec.name}` is for {spec.who.value}. {ask}"


def may_change_action(
    roles: Set[str], member_id: int, owner_id: int | None, by_id: int | None
) -> bool:
    """An action item: its owner, whoever added it, or a coordinator."""
    return member_id in (owner_id, by_id) or Role.COORDINATOR in roles


def may_edit_action(roles: Set[str], member_id: int, owner_id: int | None) -> bool:
    """Who an action is given to and when it is due: its owner, or a coordinator."""
    return member_id == owner_id or Role.COORDINATOR in roles


def may_change_record(
    roles: Set[str], member_id: int, author_id: int | None, *, withdrawing: bool
) -> bool:
    """A practice record: its author; a coordinator may also withdraw it (not rewrite it)."""
    return member_id == author_id or (withdrawing and Role.COORDINATOR in roles)
