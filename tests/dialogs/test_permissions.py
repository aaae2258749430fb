"""Who may run what: every command in the grammar, typed or pressed, by each role, on both
databases. The rules are in dialogs/permissions.py; here they meet every command."""

from __future__ import annotations

import pytest

from dialogs.core import Partnerbot
from dialogs.grammar import COMMANDS, CommandSpec, Kind, Who
from dialogs.permissions import may, refusal
from dialogs.turn import Partnership
from tests.dialogs.conversation import person, say

ANN = person("Ann")  # the first to arrive: coordinator
ROLE_PEOPLE = {
    "member": person("Mia"),
    "expert": person("Eve"),
    "manager": person("Max"),
    "coordinator": ANN,
}
SAMPLES = {
    Kind.WORD: "Marr",
    Kind.TEXT: "something to say",
    Kind.INT: "1",
    Kind.MEMBER: "@Mia",
    Kind.DATE: "2026-12-01",
    Kind.TIME: "10:00",
    Kind.INT_LIST: "1",
    Kind.NAME_LIST: "all",
    Kind.DURATION: "1h",
    Kind.OFFSETS: "1d",
}


def invocation(spec: CommandSpec) -> str:
    """The command with a value of the right kind for every required parameter."""
    parts = list(spec.path)
    for param in spec.params:
        if param.optional:
            continue
        if param.kind is Kind.CHOICE:
            parts.append(param.choices[0])
        elif param.quoted:
            parts.append('"A title"')
        else:
            parts.append(SAMPLES[param.kind])
    return " ".join(parts)


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(
        store,
        Partnership(first_contact_becomes_coordinator=True, frameworks=frameworks),
        clock=clock,
    )
    await say(bot, ANN, "area add Marr")
    for role, who in ROLE_PEOPLE.items():
        await say(bot, who, "me area Marr")
        if role in ("expert", "manager"):
            granted = await say(bot, ANN, f"role @{who.display_name} {role}")
            assert f"{who.display_name} is now a" in granted
    return bot


async def test_every_command_is_refused_or_let_through_by_role(core):
    checked = 0
    # The coordinator last: what they run may change what others see, never the reverse.
    for role, who in ROLE_PEOPLE.items():
        roles = {role} | ({"member"} if role != "member" else set())
        for spec in COMMANDS:
            text = invocation(spec)
            answer = await say(core, who, text)
            refused = refusal(spec) in answer
            assert refused is (not may(spec.who, roles)), f"{role}: {text!r} -> {answer!r}"
            # The same, pressed as a button carrying a form (a forged payload for most).
            pressed = await say(core, who, text, form={"rating": "6"})
            assert (refusal(spec) in pressed) is refused, f"{role} pressed {text!r}: {pressed!r}"
            checked += 1
    assert checked == 4 * len(COMMANDS)
    assert {spec.who for spec in COMMANDS} == set(Who)


async def test_a_member_cannot_act_on_what_belongs_to_someone_else(core):
    mia, eve = ROLE_PEOPLE["member"], ROLE_PEOPLE["expert"]
    assert "Action 1 added" in await say(core, eve, 'action add "Map the Marr partners"')
    assert "Only the action's owner or a coordinator can mark it done." in await say(
        core, mia, "action done 1", form={}
    )
    assert "Action 1 is done" in await say(core, ANN, "action done 1")
    shared = await say(
        core, eve, 'practice share "Family learning walks" We walk and talk #families'
    )
    assert "#1" in shared or "1" in shared
    assert "Only the member who shared practice #1 can change it." in await say(
        core, mia, "practice edit 1", form={}
    )
