"""A member's copy of their data, erasing it, the retention period, and risks to delivery."""

from __future__ import annotations

import calendar
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from dialogs.grammar import Role
from storage.models import Cycle, Member
from storage.privacy import ERASED_MEMBER, Expiry
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from config.frameworks import Framework

FORMAT = "partnerbot-my-data"
FORMAT_VERSION = 1
MEDIA_TYPE = "application/json"
RETENTION_RUN = "retention:last_run"
ANONYMOUS_NOTE = (
    "An anonymous check-in: your answers were saved with nothing linking them to you, so they "
    "are not in this file and erasing your data leaves them in its report. Only that you took "
    "part, and how far you got, is kept with your name."
)
ABOUT = (
    "Everything partnerbot holds about you, as of exported_at (times are UTC). Not included: "
    "your answers in anonymous check-ins (nothing links them to you), and the technical "
    "routing data the bot uses to write to you privately (the platform's service address and "
    "the bot's own ids)."
)


def _when(moment: datetime | date | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _framework_facts(cycle: Cycle, frameworks: Mapping[str, Framework]) -> dict[str, Any]:
    framework = frameworks.get(cycle.framework_key)
    return {
        "check_in": cycle.id,
        "framework": cycle.framework_key,
        "framework_title": framework.title if framework else None,
        "anonymous": cycle.anonymous,
    }


def _text_of(framework: Framework | None, kind: str, key: Any) -> str | None:
    """A question's or prompt's text, or a level's label, while the framework (still) has it."""
    if framework is None or key is None:
        return None
    try:
        found = getattr(framework, kind)(key)
    except KeyError:
        return None
    return found.label if kind == "level" else found.text


def _private_account(reference: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parts of a stored Teams conversation reference that are about the member: their
    account and language. The service address and the bot's ids are routing, not about them."""
    if not reference:
        return None
    user = reference.get("user") or {}
    account = {
        "id": user.get("id"),
        "name": user.get("name"),
        "aad_object_id": user.get("aadObjectId") or user.get("aad_object_id"),
        "locale": reference.get("locale"),
    }
    return {key: value for key, value in account.items() if value} or None


async def my_data(
    uow: UnitOfWork, member: Member, frameworks: Mapping[str, Framework], *, now: datetime
) -> dict[str, Any]:
    """Everything held about ``member``, as plain JSON values."""
    held = await uow.privacy.held_about(member)
    areas, organisations = held.areas, held.organisations
    m = member.id

    answers = []
    for response, cycle in held.answers:
        framework = frameworks.get(cycle.framework_key)
        answers.append(
            {
                **_framework_facts(cycle, frameworks),
                "question": response.question,
                "question_text": _text_of(framework, "question", response.question),
                "area": areas.get(response.area_id) if response.area_id else None,
                "rating": response.rating,
                "rating_label": _text_of(framework, "level", response.rating),
                "skipped": response.skipped,
                "written": [
                    {"prompt": key, "prompt_text": _text_of(framework, "prompt", key), "text": text}
                    for key, text in (response.texts or {}).items()
                ],
                "first_saved": _when(response.created_at),
                "last_changed": _when(response.updated_at),
            }
        )
    participation = []
    for participant, cycle in held.participations:
        row = {
            **_framework_facts(cycle, frameworks),
            "status": participant.status,
            "questions_done": len(participant.answered or ()),
            "invited": _when(participant.invited_at),
            "area": areas.get(participant.area_id) if participant.area_id else None,
        }
        if cycle.anonymous:
            row["note"] = ANONYMOUS_NOTE
        participation.append(row)

    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": _when(now),
        "about": ABOUT,
        "member": {
            "member_number": m,
            "name": member.display_name,
            "area": areas.get(member.area_id) if member.area_id else None,
            "organisation": (
                organisations.get(member.organisation_id) if member.organisation_id else None
            ),
            "time_zone": member.timezone,
            "joined": _when(member.created_at),
        },
        "identities": [
            {
                "platform": identity.platform,
                "workspace_or_tenant": identity.tenant_id or None,
                "user_id": identity.user_id,
                "name": identity.display_name,
                "private_chat": identity.dm_channel_id,
                "private_chat_account": _private_account(identity.conversation_reference),
                "first_seen": _when(identity.created_at),
                "last_seen": _when(identity.last_seen_at),
                "unreachable_since": _when(identity.unreachable_at),
                "unreachable_reason": identity.unreachable_reason,
            }
            for identity in held.identities
        ],
        "roles": [{"role": role.role, "since": _when(role.granted_at)} for role in held.roles]
        + [
            {"role": "coordinator", "area": name, "since": _when(since)}
            for name, since in held.area_posts
        ],
        "expertise": [
            {"topic": item.topic, "added": _when(item.created_at)} for item in held.expertise
        ],
        "check_ins": {"answers": answers, "participation": participation},
        "meetings": {
            "rsvps": [
                {
                    "meeting": meeting.id,
                    "title": meeting.title,
                    "starts": _when(meeting.starts_at),
                    "answer": rsvp.answer,
                    "answered": _when(rsvp.answered_at),
                }
                for rsvp, meeting in held.rsvps
            ],
            "attendance": [
                {
                    "meeting": meeting.id,
                    "title": meeting.title,
                    "starts": _when(meeting.starts_at),
                    "checked_in": _when(row.attended_at),
                    "area": areas.get(row.area_id) if row.area_id else None,
                    "organisation": (
                        organisations.get(row.organisation_id) if row.organisation_id else None
                    ),
                    "marked_by_a_coordinator": row.marked_by_id != m,
                }
                for row, meeting in held.attendance
            ],
        },
        "practice_records": [
            {
                "id": record.id,
                "title": record.title,
                "kind": record.kind,
                "status": record.status,
                "text": record.body,
                "tags": held.tags.get(record.id, []),
                "links": list(record.links or ()),
                "area": areas.get(record.area_id) if record.area_id else None,
                "organisation": (
                    organisations.get(record.organisation_id) if record.organisation_id else None
                ),
                "saved_from_a_message_by": record.source_author,
                "message_link": record.source_url,
                "created": _when(record.created_at),
                "published": _when(record.published_at),
                "withdrawn": _when(record.withdrawn_at),
            }
            for record in held.practice
        ],
        "actions": [
            {
                "id": item.id,
                "text": item.text,
                "you": [
                    relation
                    for relation, member_id in (
                        ("own it", item.owner_id),
                        ("added it", item.created_by_id),
                    )
                    if member_id == m
                ],
                "area": areas.get(item.area_id) if item.area_id else None,
                "check_in": item.cycle_id,
                "question": item.question,
                "due": _when(item.due_on),
                "status": item.status,
                "created": _when(item.created_at),
                "done": _when(item.done_at),
            }
            for item in held.actions
        ],
        "risks_reported": [
            {
                "id": risk.id,
                "text": risk.text,
                "area": areas.get(risk.area_id) if risk.area_id else None,
                "reported": _when(risk.created_at),
            }
            for risk in held.risks
        ],
        "audit_trail": [
            {
                "at": _when(event.at),
                "action": event.action,
                "subject": event.subject,
                "by": event.actor_name,
                "done_by_you": event.actor_id == m,
            }
            for event in held.audit
        ],
        "conversation_in_progress": (
            None
            if held.dialog_state is None
            else {
                "flow": held.dialog_state.flow,
                "step": held.dialog_state.step,
                "data": held.dialog_state.data,
                "updated": _when(held.dialog_state.updated_at),
            }
        ),
        "messages_to_you": [
            {
                "kind": message.kind,
                "status": message.status,
                "due": _when(message.due_at),
                "sent": _when(message.sent_at),
            }
            for message in held.messages
        ],
        "downloads": [
            {
                "file": download.filename,
                "created": _when(download.created_at),
                "expires": _when(download.expires_at),
            }
            for download in held.downloads
        ],
    }


def to_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


async def only_coordinator(uow: UnitOfWork, member: Member) -> bool:
    coordinators = await uow.members.with_role(Role.COORDINATOR)
    return [c.id for c in coordinators] == [member.id]


async def erase(uow: UnitOfWork, member: Member, *, now: datetime) -> dict[str, int]:
    """Erase ``member`` (storage/privacy.py decides what goes and what stays unnamed) and put
    it on the audit trail by member number: the trail must show an erasure happened, and must
    not keep the person it erased."""
    member_id = member.id
    identities = await uow.members.identities_of(member_id)
    names = {member.display_name, *(identity.display_name for identity in identities)}
    # Very short names would be replaced inside other words of the audit trail.
    counts = await uow.privacy.erase(member, names={name for name in names if len(name) >= 2})
    await uow.audit.record(
        actor=None,
        action="data erased",
        subject=f"member {member_id}, at their own request",
        detail={ERASED_MEMBER: member_id, "rows": counts},
        now=now,
    )
    return counts


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day when it
    is shorter: 31 March less one month is 28 or 29 February)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


async def apply_retention(uow: UnitOfWork, now: datetime, *, months: int) -> Expiry | None:
    """The daily retention job (run_jobs wakes it every minute; it works once a UTC day).
    ``months`` 0 keeps everything."""
    if months <= 0:
        return None
    today = now.date().isoformat()
    if await uow.meta.get(RETENTION_RUN) == today:
        return None
    await uow.meta.put(RETENTION_RUN, today)
    expiry = await uow.privacy.expire_answers(before=months_before(now, months), now=now)
    if expiry.cycles:
        await uow.audit.record(
            actor=None,
            action="answers expired",
            subject=(
                f"{expiry.answers} answers in {expiry.cycles} check-in"
                f"{'s' if expiry.cycles != 1 else ''}, {months} months after closing"
            ),
            detail={"cycles": expiry.cycles, "answers": expiry.answers, "months": months},
            now=now,
        )
    return expiry
