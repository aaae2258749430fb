"""Who may run what: every command in the grammar, typed or pressed, by each role - member,
expert, programme manager, a coordinator of the area the command is about, a coordinator of
another area, a partnership coordinator - on both databases. The rules are in
dialogs/permissions.py; here they meet every command."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dialogs.core import Partnerbot
from dialogs.grammar import COMMANDS, CommandSpec, Kind, Who
from dialogs.permissions import refusal
from dialogs.turn import Partnership
from storage.models import Cycle, Meeting
from tests.dialogs.conversation import channel, person, say

ANN = person("Ann")  # the first to arrive: partnership coordinator
MIA = person("Mia")
CORA = person("Cora")  # coordinator of Marr, where everything below belongs
FINN = person("Finn")  # coordinator of Formartine
# In this order: who is refused goes first, so what the others do (close the check-in, cancel
# the meeting) can't turn a refusal into a different answer.
ROLE_PEOPLE = {
    "member": MIA,
    "expert": person("Eve"),
    "manager": person("Max"),
    "coordinator of another area": FINN,
    "coordinator of the area": CORA,
    "partnership coordinator": ANN,
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
# Commands about an area, said so that they are about Marr (its check-in, meeting 1, its
# cadence, its channel).
ABOUT_MARR = {
    ("checkin", "start"): "checkin start qi-3.2 questions=1 areas=Marr",
    ("meeting", "schedule"): 'meeting schedule "A title" 2026-12-01 10:00 area=Marr',
    ("meeting", "cadence"): "meeting cadence Marr 2",
    ("area", "channel"): "area channel Marr",
    ("checkin", "report"): "checkin report area=Marr",
    ("checkin", "priorities"): "checkin priorities area=Marr",
}
# Coordinators' commands that belong to no one area: any area's coordinator may run them.
NOT_ABOUT_AN_AREA = {("expert", "add"), ("partner", "add"), ("tag", "add")}
AREA_REFUSAL = "Sorry, you can't "


def invocation(spec: CommandSpec) -> str:
    """The command with a value of the right kind for every required parameter."""
    if spec.path in ABOUT_MARR:
        return ABOUT_MARR[spec.path]
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


def allowed(spec: CommandSpec, role: str) -> bool:
    """What the rules say, written out once more by role (not by calling them)."""
    if spec.who is Who.ANYONE or role == "partnership coordinator":
        return True
    if spec.who is Who.PARTNERSHIP:
        return False
    if spec.who is Who.OVERSIGHT:
        return role == "manager"
    own = role == "coordinator of the area"
    other = role == "coordinator of another area" and spec.path in NOT_ABOUT_AN_AREA
    if spec.who is Who.LEADS:
        return own or role == "manager"
    return own or other  # Who.COORDINATORS


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(
        store,
        Partnership(first_contact_becomes_coordinator=True, frameworks=frameworks),
        clock=clock,
    )
    await say(bot, ANN, "area add Marr")
    await say(bot, ANN, "area add Formartine")
    for role, who in ROLE_PEOPLE.items():
        await say(bot, who, "me area Formartine" if who is FINN else "me area Marr")
        if role in ("expert", "manager"):
            granted = await say(bot, ANN, f"role @{who.display_name} {role}")
            assert f"{who.display_name} is now a" in granted
    assert "Cora is now coordinator of Marr" in await say(
        bot, ANN, "role @Cora coordinator area=Marr"
    )
    assert "Finn is now coordinator of Formartine" in await say(
        bot, ANN, "role @Finn coordinator area=Formartine"
    )
    assert "Opened QI 3.2" in await say(bot, ANN, "checkin start qi-3.2 areas=Marr")
    assert "meeting 1" in await say(
        bot, ANN, 'meeting schedule "Marr forum" 2026-04-01 10:00 area=Marr'
    )
    return bot


def _where(spec: CommandSpec):
    return channel("marr") if spec.path == ("area", "channel") else None


async def test_every_command_is_refused_or_let_through_by_role(core):
    checked = 0
    for role, who in ROLE_PEOPLE.items():
        for spec in COMMANDS:
            text = invocation(spec)
            answer = await say(core, who, text, where=_where(spec))
            refused = refusal(spec) in answer or AREA_REFUSAL in answer
            assert refused is (not allowed(spec, role)), f"{role}: {text!r} -> {answer!r}"
            # The same, pressed as a button carrying a form (a forged payload for most).
            pressed = await say(core, who, text, form={"rating": "6"}, where=_where(spec))
            pressed_refused = refusal(spec) in pressed or AREA_REFUSAL in pressed
            assert pressed_refused is refused, f"{role} pressed {text!r}: {pressed!r}"
            checked += 1
    assert checked == len(ROLE_PEOPLE) * len(COMMANDS)
    assert {spec.who for spec in COMMANDS} == set(Who)


async def test_a_coordinator_of_another_area_pressing_this_areas_buttons_changes_nothing(
    core, store
):
    for forged in ("meeting cancel 1", "meeting change 1 time=11:00", "checkin close"):
        answer = await say(core, FINN, forged, form={})
        assert "Sorry, you can't" in answer and "you coordinate Formartine" in answer, answer
        assert "Marr is coordinated by Cora" in answer
        assert "Ask a partnership coordinator (Ann)." in answer
    assert "Sorry, you can't see check-in 1" in await say(core, FINN, "checkin status", form={})
    async with store.unit() as uow:
        meeting = (await uow.session.scalars(select(Meeting))).one()
        cycle = (await uow.session.scalars(select(Cycle))).one()
    assert (meeting.status, meeting.revision, cycle.status) == ("scheduled", 0, "open")
    # Its own area's coordinator may.
    assert "Cancelled Marr forum (meeting 1)" in await say(core, CORA, "meeting cancel 1", form={})


async def test_an_area_coordinator_acts_for_their_area_and_not_the_whole_partnership(core, store):
    everywhere = await say(core, CORA, 'meeting schedule "All" 2026-05-01 10:00 area=all')
    assert (
        "Sorry, you can't schedule a meeting for every area: you coordinate Marr, and that is "
        "for the whole partnership. Ask a partnership coordinator (Ann)." in everywhere
    )
    assert "Sorry, you can't set the whole partnership's cadence" in await say(
        core, CORA, "meeting cadence all 2"
    )
    assert "Sorry, you can't set Formartine's cadence" in await say(
        core, CORA, "meeting cadence Formartine 2"
    )
    assert "Marr should meet" in await say(core, CORA, "meeting cadence Marr 2")
    async with store.unit() as uow:
        assert len((await uow.session.scalars(select(Meeting))).all()) == 1
        assert await uow.meta.get("meeting-cadence:all") is None
    # Roles and areas are the partnership coordinators'.
    refused = await say(core, CORA, "area add Buchan")
    assert "Sorry, `area add` is for partnership coordinators." in refused
    assert "You coordinate Marr." in refused
    assert "Sorry, `role` is for partnership coordinators." in await say(
        core, CORA, "role @Mia coordinator area=Marr"
    )
    async with store.unit() as uow:
        assert [a.name for a in await uow.areas.all()] == ["Formartine", "Marr"]
        mia = (await uow.members.by_name("Mia"))[0]
        assert await uow.members.standing_of(mia.id) == (frozenset(), frozenset())


async def test_a_check_in_across_areas_shows_each_coordinator_their_part(core, clock):
    await say(core, ANN, "checkin close")
    assert "Opened QI 3.2" in await say(core, ANN, "checkin start qi-3.2 areas=all")
    status = await say(core, CORA, "checkin status")
    assert "Marr" in status and "Formartine" not in status
    assert "Marr: Ann, Cora, Eve, Max, Mia" in status and "Finn" not in status
    finn = await say(core, FINN, "checkin status")
    assert "Formartine" in finn and "Mia" not in finn
    assert "Reminding 1 member who haven't finished." in await say(core, FINN, "checkin remind")
    # Closing closes it for every area: not for one area's coordinator.
    closing = await say(core, CORA, "checkin close")
    assert (
        "Sorry, you can't close check-in 2, which covers Formartine, Marr: you coordinate Marr, "
        "and Formartine is coordinated by Finn." in closing
    )
    # Starting a check-in for every area is the partnership coordinators'.
    await say(core, ANN, "checkin close")
    refused = await say(core, CORA, "checkin start qi-3.2")
    assert "Sorry, you can't open a check-in for every area" in refused
    assert "Opened QI 3.2" in await say(core, CORA, "checkin start qi-3.2 areas=Marr")
    # The report: their own area's part, unasked.
    report = await say(core, CORA, "checkin report")
    assert "CHECK-IN REPORT (INTERIM), MARR" in report and "Formartine" not in report
    assert "Sorry, you can't read Formartine's report" in await say(
        core, CORA, "checkin report area=Formartine"
    )


async def test_a_member_cannot_act_on_what_belongs_to_someone_else(core):
    mia, eve = ROLE_PEOPLE["member"], ROLE_PEOPLE["expert"]
    assert "Action 1 added" in await say(core, eve, 'action add "Map the Marr partners"')
    assert "Only the action's owner or a coordinator of its area can mark it done." in await say(
        core, mia, "action done 1", form={}
    )
    assert "Only the action's owner or a coordinator" in await say(
        core, FINN, "action done 1", form={}
    )
    assert "Action 1 is done" in await say(core, CORA, "action done 1")
    shared = await say(
        core, eve, 'practice share "Family learning walks" We walk and talk #families'
    )
    assert "#1" in shared or "1" in shared
    assert "Only the member who shared practice #1 can change it." in await say(
        core, mia, "practice edit 1", form={}
    )


async def test_area_coordinators_in_the_directory(core, store):
    assert "Roles         member, coordinator of Marr" in await say(core, CORA, "me")
    assert "member, partnership coordinator" in await say(core, ANN, "me")
    areas = await say(core, MIA, "areas")
    assert "Marr - 5 members - coordinated by Cora" in areas
    assert "Formartine - 1 member - coordinated by Finn" in areas
    assert "Partnership coordinators: Ann" in areas
    assert "You coordinate Marr: commands marked (coordinator) are yours for that area." in (
        await say(core, CORA, "help")
    )
    assert "Cora already coordinates Marr." in await say(
        core, ANN, "role @Cora coordinator area=Marr"
    )
    assert "Only coordinators are appointed for an area" in await say(
        core, ANN, "role @Cora manager area=Marr"
    )
    assert "Ann is a partnership coordinator, so already coordinates every area" in await say(
        core, ANN, "role @Ann coordinator area=Marr"
    )
    assert "Cora no longer coordinates Marr." in await say(core, ANN, "role @Cora member area=Marr")
    assert "Sorry, `checkin status` is for coordinators." in await say(core, CORA, "checkin status")
    assert "Finn is now a member" in await say(core, ANN, "role @Finn member")
    async with store.unit() as uow:
        for name in ("Cora", "Finn"):
            member = (await uow.members.by_name(name))[0]
            assert await uow.members.standing_of(member.id) == (frozenset(), frozenset())
        trail = [e.subject for e in await uow.audit.recent(limit=20)]
    assert "Cora no longer coordinates Marr" in trail
    assert "Cora is now coordinator of Marr" in trail
