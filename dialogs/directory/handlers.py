"""Directory commands: me, areas, roles, experts, partners."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from dialogs.directory.experts import closest, matches
from dialogs.grammar import Role
from dialogs.messages import MAX_USER_ID
from dialogs.parser import Command, MemberRef
from dialogs.turn import Refusal, Turn
from dialogs.views import (
    Actions,
    BulletList,
    Button,
    ButtonStyle,
    Facts,
    Heading,
    Paragraph,
    Reply,
    Tone,
    View,
    text_reply,
)
from storage.meetings import AttendanceHistory
from storage.models import Member

MAX_NAME = 120
_ZONES: dict[str, str] = {}


def known_zone(name: str) -> str | None:
    """The canonical IANA name for ``name`` (case-insensitive), or None."""
    if not _ZONES:
        _ZONES.update({zone.casefold(): zone for zone in zoneinfo.available_timezones()})
    return _ZONES.get(name.casefold())


def _check_name(kind: str, name: str) -> str:
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise Refusal(
            f"That {kind} name is too long ({len(name)} characters; the most is {MAX_NAME})."
        )
    return name


async def resolve_member(turn: Turn, ref: MemberRef) -> Member:
    """The member a command names. A mentioned person the bot has not met yet is registered."""
    members = turn.uow.members
    sender = turn.message.sender
    if ref.user_id is not None:
        if len(ref.user_id) > MAX_USER_ID:
            raise Refusal("That mention names no one I could know: its id is too long.")
        identity = await members.identity(sender.platform, sender.tenant_id, ref.user_id)
        if identity is not None:
            member = await members.get(identity.member_id)
            assert member is not None
            return member
        name = next((m.display_name for m in turn.message.mentions if m.user_id == ref.user_id), "")
        member, _ = await members.register(
            platform=sender.platform,
            tenant_id=sender.tenant_id,
            user_id=ref.user_id,
            display_name=name,
            now=turn.now,
        )
        return member
    found = await members.by_name(ref.name or "")
    if not found:
        raise Refusal(f"I don't know anyone called {ref.name}. Mention them with @ instead.")
    if len(found) > 1:
        raise Refusal(f"{len(found)} members are called {ref.name}; mention the one you mean.")
    return found[0]


def _local(now: datetime, zone: str) -> str:
    return now.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M on %a %d %b")


async def me(turn: Turn, command: Command) -> Sequence[Reply]:
    uow, member = turn.uow, turn.member
    area = await uow.areas.get(member.area_id) if member.area_id else None
    organisation = (
        await uow.organisations.get(member.organisation_id) if member.organisation_id else None
    )
    zone = await turn.zone_name()
    zone_note = "" if member.timezone else " (default)"
    topics = await uow.expertise.of_member(member.id)
    identities = await uow.members.identities_of(member.id)
    roles = await role_names(turn, turn.roles, turn.coordinates)
    facts = [
        ("Name", member.display_name),
        ("Area", area.name if area else "not set - `me area <area>`"),
        ("Organisation", organisation.name if organisation else "not set - `me org <name>`"),
        ("Time zone", f"{zone}{zone_note}, now {_local(turn.now, zone)}"),
        ("Roles", ", ".join(roles)),
        ("Platforms", ", ".join(sorted({identity.platform for identity in identities}))),
    ]
    if topics:
        facts.append(("Expertise", ", ".join(topics)))
    view = View(
        summary=f"{member.display_name}: " + "; ".join(f"{k} {v}" for k, v in facts[1:4]),
        blocks=(Heading("Your profile"), Facts(tuple(facts))),
    )
    return (Reply(view, private=True),)


async def me_area(turn: Turn, command: Command) -> Sequence[Reply]:
    name = _check_name("area", command.get("area"))
    area = await turn.uow.areas.by_name(name)
    if area is None:
        areas = await turn.uow.areas.all()
        if not areas:
            hint = "There are no areas yet."
        else:
            hint = "The areas are: " + ", ".join(a.name for a in areas) + "."
        blocks: list = [Paragraph(f"There's no area called {name}. {hint}", Tone.WARNING)]
        if turn.is_coordinator:
            blocks.append(
                Actions((Button(f"Add area {name}", f"area add {name}", ButtonStyle.PRIMARY),))
            )
        else:
            blocks.append(Paragraph("A coordinator can add it with `area add <name>`.", Tone.MUTED))
        return (
            Reply(View(summary=f"There's no area called {name}. {hint}", blocks=tuple(blocks))),
        )
    left, turn.member.area_id = turn.member.area_id, area.id
    await turn.uow.session.flush()
    if left != area.id:
        # Here, not at import: meetings builds on the directory.
        from dialogs.meetings.handlers import member_moved

        await member_moved(
            turn.uow,
            turn.member,
            left=left,
            default_zone=turn.partnership.timezone,
            now=turn.now,
        )
    return (text_reply(f"You're now in {area.name}.", tone=Tone.GOOD),)


async def me_org(turn: Turn, command: Command) -> Sequence[Reply]:
    name = _check_name("organisation", command.get("organisation"))
    organisation = await turn.uow.organisations.by_name(name)
    note = ""
    if organisation is None:
        organisation = await turn.uow.organisations.add(name, now=turn.now)
        note = " It's new to the partners directory, so I've added it."
    turn.member.organisation_id = organisation.id
    await turn.uow.session.flush()
    return (text_reply(f"Your organisation is now {organisation.name}.{note}", tone=Tone.GOOD),)


async def me_tz(turn: Turn, command: Command) -> Sequence[Reply]:
    zone = known_zone(command.get("zone"))
    if zone is None:
        raise Refusal(
            f"`{command.get('zone')}` is not a time zone I know. Use an IANA name "
            "such as Europe/London or Australia/Melbourne."
        )
    turn.member.timezone = zone
    await turn.uow.session.flush()
    return (
        text_reply(
            f"Your time zone is now {zone}; it's {_local(turn.now, zone)} there.", tone=Tone.GOOD
        ),
    )


async def areas(turn: Turn, command: Command) -> Sequence[Reply]:
    all_areas = await turn.uow.areas.all()
    if not all_areas:
        text = "There are no areas yet."
        if turn.is_coordinator:
            text += " Add one with `area add <name>`."
        return (text_reply(text),)
    counts = await turn.uow.areas.member_counts()
    history = await turn.uow.meetings.attendance_history("area")
    posts = await turn.uow.members.area_coordinators()
    zone = await turn.zone_name()

    def line(area) -> str:
        n = counts.get(area.id, 0)
        coordinators = ", ".join(m.display_name for m in posts.get(area.id, ()))
        return (
            f"{area.name} - {n} member{'s' if n != 1 else ''}"
            + (f" - coordinated by {coordinators}" if coordinators else "")
            + _attended(history.get(area.id), zone)
        )

    lines = tuple(line(area) for area in all_areas)
    noun = "area" if len(all_areas) == 1 else "areas"
    blocks: list = [Heading(f"Areas ({len(all_areas)})"), BulletList(lines)]
    partnership = await turn.uow.members.with_role(Role.COORDINATOR)
    if partnership:
        blocks.append(
            Paragraph(
                "Partnership coordinators: " + ", ".join(m.display_name for m in partnership),
                Tone.MUTED,
            )
        )
    if turn.is_coordinator:
        blocks += await unreachable_blocks(turn)
    view = View(
        summary=f"{len(all_areas)} {noun}: " + ", ".join(a.name for a in all_areas),
        blocks=tuple(blocks),
    )
    return (Reply(view),)


def _attended(history: AttendanceHistory | None, zone: str) -> str:
    """The forum attendance part of a directory line."""
    if history is None:
        return ""
    last = history.last.astimezone(zoneinfo.ZoneInfo(zone))
    forums = "forum" if history.meetings == 1 else "forums"
    return (
        f" - at {history.meetings} {forums} ({history.attendances} attendance"
        f"{'s' if history.attendances != 1 else ''}), last {last:%d %b %Y}"
    )


async def unreachable_blocks(turn: Turn) -> list:
    """For coordinators: who and where the bot's messages no longer reach, and why."""
    people = await turn.uow.members.unreachable()
    places = await turn.uow.conversations.unreachable()
    if not people and not places:
        return []
    items = [
        f"{member.display_name} ({identity.platform}): {identity.unreachable_reason}"
        for member, identity in people
    ]
    items += [
        f"#{conversation.name or conversation.conversation_id} ({conversation.platform}): "
        f"{conversation.unreachable_reason}"
        for conversation in places
    ]
    return [
        Paragraph(
            "The bot's messages can't reach these; sending to them has stopped:", Tone.WARNING
        ),
        BulletList(tuple(items)),
    ]


async def area_add(turn: Turn, command: Command) -> Sequence[Reply]:
    name = _check_name("area", command.get("name"))
    existing = await turn.uow.areas.by_name(name)
    if existing is not None:
        raise Refusal(f"There's already an area called {existing.name}.")
    area = await turn.uow.areas.add(name, now=turn.now)
    return (
        text_reply(
            f"Added the area {area.name}. Members join it with `me area {area.name}`.",
            tone=Tone.GOOD,
        ),
    )


async def role(turn: Turn, command: Command) -> Sequence[Reply]:
    target = await resolve_member(turn, command.get("member"))
    wanted = Role(command.get("role"))
    if command.get("area") is not None:
        return await _area_role(turn, target, wanted, command.get("area"))
    members = turn.uow.members
    if wanted is Role.MEMBER:
        current = await members.roles_of(target.id)
        if Role.COORDINATOR in current:
            coordinators = await members.with_role(Role.COORDINATOR)
            if len(coordinators) == 1:
                raise Refusal(
                    f"{target.display_name} is the only partnership coordinator; make someone "
                    "else partnership coordinator first."
                )
        for dropped in (Role.COORDINATOR, Role.MANAGER):
            await members.revoke(target.id, dropped)
        await members.stand_down_area_coordinator(target.id)
        await _record_role(turn, target, f"{target.display_name} is now a member", wanted)
        return (
            text_reply(
                f"{target.display_name} is now a member, with no coordinator or manager role.",
                tone=Tone.GOOD,
            ),
        )
    title = f"{_article(wanted)} {_role_title(wanted)}"
    if not await members.grant(target.id, wanted, now=turn.now):
        return (text_reply(f"{target.display_name} is already {title}."),)
    await _record_role(turn, target, f"{target.display_name} is now {title}", wanted)
    return (text_reply(f"{target.display_name} is now {title}.", tone=Tone.GOOD),)


async def _area_role(turn: Turn, target: Member, wanted: Role, name: str) -> Sequence[Reply]:
    """``role @x coordinator area=Marr`` appoints an area's coordinator; ``role @x member
    area=Marr`` stands them down from that area only."""
    if wanted not in (Role.COORDINATOR, Role.MEMBER):
        raise Refusal(
            f"Only coordinators are appointed for an area: `role <@member> coordinator "
            f"area=<area>`, or `role <@member> {wanted}` without area=."
        )
    area = await turn.uow.areas.by_name(_check_name("area", name))
    if area is None:
        known = ", ".join(a.name for a in await turn.uow.areas.all()) or "none yet"
        raise Refusal(f"There's no area called {name}. Areas: {known}.")
    members = turn.uow.members
    if wanted is Role.MEMBER:
        if not await members.stand_down_area_coordinator(target.id, area.id):
            return (text_reply(f"{target.display_name} doesn't coordinate {area.name}."),)
        subject = f"{target.display_name} no longer coordinates {area.name}"
        await _record_role(turn, target, subject, wanted, area=area.name)
        return (text_reply(f"{subject}.", tone=Tone.GOOD),)
    if Role.COORDINATOR in await members.roles_of(target.id):
        return (
            text_reply(
                f"{target.display_name} is a partnership coordinator, so already coordinates "
                f"every area, {area.name} included. To make them coordinator of {area.name} "
                f"only, first `role <@member> member`."
            ),
        )
    if not await members.appoint_area_coordinator(target.id, area.id, now=turn.now):
        return (text_reply(f"{target.display_name} already coordinates {area.name}."),)
    subject = f"{target.display_name} is now coordinator of {area.name}"
    await _record_role(turn, target, subject, wanted, area=area.name)
    return (
        text_reply(
            f"{subject}: they run check-ins, meetings and reports for {area.name} only.",
            tone=Tone.GOOD,
        ),
    )


async def _record_role(
    turn: Turn, target: Member, subject: str, wanted: Role, *, area: str | None = None
) -> None:
    detail: dict = {"member": target.id, "role": str(wanted)}
    if area is not None:
        detail["area"] = area
    await turn.uow.audit.record(
        actor=turn.member, action="role changed", subject=subject, detail=detail, now=turn.now
    )


def _role_title(role: Role) -> str:
    return "partnership coordinator" if role is Role.COORDINATOR else str(role)


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


async def role_names(turn: Turn, roles: frozenset[str], coordinates: frozenset[int]) -> list[str]:
    """How the directory shows someone's roles: "partnership coordinator", "coordinator of
    Marr", "expert"..."""
    names = [Role.MEMBER.value]
    if Role.COORDINATOR in roles:
        names.append("partnership coordinator")
    else:
        areas = [await turn.uow.areas.get(area_id) for area_id in coordinates]
        names += sorted(f"coordinator of {a.name}" for a in areas if a is not None)
    names += sorted(r for r in roles if r not in (Role.COORDINATOR, Role.MEMBER))
    return names


async def experts(turn: Turn, command: Command) -> Sequence[Reply]:
    query = command.get("topic")
    everyone = await turn.uow.expertise.all_with_members()
    rows = [(e, m) for e, m in everyone if matches(query, e.topic)] if query else everyone
    if not rows:
        text = (
            f"No one has listed expertise in {query} yet."
            if query
            else "No subject-matter experts are listed yet."
        )
        near = closest(query, sorted({e.topic for e, _ in everyone})) if query else []
        if near:
            text += f" Listed topics near it: {'; '.join(near)}."
        text += " List your own with `me expertise <topic>`."
        if turn.is_coordinator:
            text += " Add someone's with `expert add <@member> <topic>`."
        return (text_reply(text),)
    by_topic: dict[str, list[str]] = defaultdict(list)
    for expertise, member in rows:
        by_topic[expertise.topic].append(member.display_name)
    lines = tuple(f"{topic}: {', '.join(names)}" for topic, names in by_topic.items())
    title = f"Experts in {query}" if query else "Subject-matter experts"
    return (
        Reply(
            View(
                summary=f"{title}: " + "; ".join(lines), blocks=(Heading(title), BulletList(lines))
            )
        ),
    )


async def me_expertise(turn: Turn, command: Command) -> Sequence[Reply]:
    """Members list what they can advise on themselves; coordinators can also `expert add`."""
    topic = _check_name("topic", command.get("topic"))
    added = await turn.uow.expertise.add(turn.member.id, topic, now=turn.now)
    await turn.uow.members.grant(turn.member.id, Role.EXPERT, now=turn.now)
    if not added:
        return (text_reply(f"You're already listed for {topic}."),)
    return (
        text_reply(
            f"You're now listed as an expert in {topic}: `experts {topic}` finds you.",
            tone=Tone.GOOD,
        ),
    )


async def expert_add(turn: Turn, command: Command) -> Sequence[Reply]:
    topic = _check_name("topic", command.get("topic"))
    target = await resolve_member(turn, command.get("member"))
    added = await turn.uow.expertise.add(target.id, topic, now=turn.now)
    await turn.uow.members.grant(target.id, Role.EXPERT, now=turn.now)
    if not added:
        return (text_reply(f"{target.display_name} is already listed for {topic}."),)
    return (
        text_reply(f"{target.display_name} is now listed as an expert in {topic}.", tone=Tone.GOOD),
    )


async def partners(turn: Turn, command: Command) -> Sequence[Reply]:
    organisations = await turn.uow.organisations.all()
    if not organisations:
        return (
            text_reply(
                "The partners directory is empty. Members add their organisation "
                "with `me org <name>`."
            ),
        )
    counts = await turn.uow.organisations.member_counts()
    history = await turn.uow.meetings.attendance_history("organisation")
    zone = await turn.zone_name()
    current = [o for o in organisations if o.is_current]
    past = [o for o in organisations if not o.is_current]

    def line(org) -> str:
        n = counts.get(org.id, 0)
        return f"{org.name} - {n} member{'s' if n != 1 else ''}" + _attended(
            history.get(org.id), zone
        )

    blocks: list = [Heading(f"Partners ({len(current)} current, {len(past)} past)")]
    if current:
        blocks += [
            Paragraph("Current partners", Tone.STRONG),
            BulletList(tuple(line(o) for o in current)),
        ]
    if past:
        blocks += [
            Paragraph("Past partners", Tone.STRONG),
            BulletList(tuple(line(o) for o in past)),
        ]
    summary = f"{len(current)} current and {len(past)} past partners"
    return (Reply(View(summary=summary, blocks=tuple(blocks))),)


async def partner_add(turn: Turn, command: Command) -> Sequence[Reply]:
    name = _check_name("organisation", command.get("name"))
    is_current = not command.get("past")
    existing = await turn.uow.organisations.by_name(name)
    if existing is not None:
        if existing.is_current == is_current:
            raise Refusal(f"{existing.name} is already in the directory.")
        existing.is_current = is_current
        await turn.uow.session.flush()
        state = "a current" if is_current else "a past"
        return (text_reply(f"{existing.name} is now listed as {state} partner.", tone=Tone.GOOD),)
    organisation = await turn.uow.organisations.add(name, now=turn.now, is_current=is_current)
    state = "current" if is_current else "past"
    return (
        text_reply(
            f"Added {organisation.name} to the directory as a {state} partner.", tone=Tone.GOOD
        ),
    )


HANDLERS = {
    ("me",): me,
    ("me", "area"): me_area,
    ("me", "org"): me_org,
    ("me", "tz"): me_tz,
    ("areas",): areas,
    ("area", "add"): area_add,
    ("role",): role,
    ("experts",): experts,
    ("expert", "add"): expert_add,
    ("me", "expertise"): me_expertise,
    ("partners",): partners,
    ("partner", "add"): partner_add,
}
