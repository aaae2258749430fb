"""``mydata export``, ``mydata delete`` and ``risk``: each acts on the sender only; no command
here names another member, so nobody, coordinator or not, can export or erase someone else."""

from __future__ import annotations

from collections.abc import Sequence

from dialogs.checkins.handlers import zone_of
from dialogs.checkins.report_command import offer_download
from dialogs.checkins.views import local
from dialogs.grammar import Role
from dialogs.outbox import Kind, ToMember, privately, queue
from dialogs.parser import Command, UsageError
from dialogs.privacy import service, views
from dialogs.turn import Refusal, Turn
from dialogs.views import Reply, Tone, text_reply
from storage.models import Member

MAX_RISK = 2000


async def export(turn: Turn, command: Command) -> Sequence[Reply]:
    data = await service.my_data(turn.uow, turn.member, turn.partnership.frameworks, now=turn.now)
    day = turn.now.astimezone(await turn.zone()).date()
    filename = f"partnerbot-my-data-{day.isoformat()}.json"
    url = await offer_download(
        turn, filename=filename, media_type=service.MEDIA_TYPE, data=service.to_json(data)
    )
    return await privately(
        turn,
        views.data_ready(filename, url),
        key=f"mydata:member:{turn.member.id}:export",
        note="Your data is yours alone, so I've sent the link to you privately.",
    )


async def delete(turn: Turn, command: Command) -> Sequence[Reply]:
    if not command.get("confirm"):
        prompt = views.erase_prompt(
            only_coordinator=await service.only_coordinator(turn.uow, turn.member)
        )
        return await privately(
            turn,
            prompt,
            key=f"mydata:member:{turn.member.id}:erase",
            note="I've sent you a direct message to confirm erasing your data.",
        )
    if not turn.message.is_direct:
        raise Refusal(
            "Erasing your data is done in private: message me directly with `mydata delete`."
        )
    counts = await service.erase(turn.uow, turn.member, now=turn.now)
    return (views.erased(counts),)


async def _risk_recipients(turn: Turn) -> tuple[list[Member], str]:
    """The programme managers; without any, the coordinators. Never the reporter."""
    for role, who in ((Role.MANAGER, "programme manager"), (Role.COORDINATOR, "coordinator")):
        found = [m for m in await turn.uow.members.with_role(role) if m.id != turn.member.id]
        if found:
            return found, who
    return [], ""


async def risk(turn: Turn, command: Command) -> Sequence[Reply]:
    text = command.get("text").strip()
    if len(text) > MAX_RISK:
        raise UsageError(
            f"that risk is too long ({len(text)} characters; the most is {MAX_RISK}).",
            command.spec,
        )
    uow, reporter = turn.uow, turn.member
    saved = await uow.risks.add(text=text, reporter=reporter, now=turn.now)
    area = await uow.areas.get(reporter.area_id) if reporter.area_id else None
    organisation = (
        await uow.organisations.get(reporter.organisation_id) if reporter.organisation_id else None
    )
    recipients, who = await _risk_recipients(turn)
    for recipient in recipients:
        zone = await zone_of(uow, recipient, turn.partnership.timezone)
        await queue(
            uow,
            key=f"risk:{saved.id}:member:{recipient.id}",
            kind=Kind.RISK_ALERT,
            to=ToMember(recipient.id),
            view=views.risk_alert(
                risk_id=saved.id,
                text=text,
                reporter=reporter.display_name,
                area=area.name if area else None,
                organisation=organisation.name if organisation else None,
                when=f"{local(turn.now, zone)} ({zone})",
            ),
            due_at=turn.now,
            now=turn.now,
        )
    if recipients:
        count = len(recipients)
        sent = f"sent privately to {'the' if count > 1 else 'your'} {who}{'s' if count > 1 else ''}"
        if who != "programme manager":
            sent += " (there is no programme manager yet)"
    else:
        sent = "kept on record; there is no programme manager or coordinator to send it to yet"
    return (text_reply(f"Thank you: risk {saved.id} is {sent}.", tone=Tone.GOOD, private=True),)


HANDLERS = {
    ("mydata", "export"): export,
    ("mydata", "delete"): delete,
    ("risk",): risk,
}
