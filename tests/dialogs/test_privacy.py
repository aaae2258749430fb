"""Data protection in chat, on both databases: a member's copy of their data, erasing it (with
the anonymous report unchanged), the retention period on a frozen clock, and the privacy
notice."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dialogs.checkins.report_command import report_data
from dialogs.checkins.reports import render_markdown
from dialogs.core import Partnerbot
from dialogs.privacy.service import months_before
from dialogs.turn import Partnership
from dialogs.views import Actions
from storage.models import (
    ActionItem,
    AnonymousResponse,
    AuditEvent,
    Export,
    Identity,
    Member,
    OutboxMessage,
    Participant,
    PracticeRecord,
    Response,
    Risk,
    Role,
    SlackInstallation,
    UnnamedAttendance,
    UnnamedParticipant,
)
from storage.privacy import FORGOTTEN_VIEW
from tests.dialogs.conversation import START, channel, person, replies_to, say

ANN, BOB = person("Ann"), person("Bob")  # Ann arrives first: coordinator
OTHERS = [person(name) for name in ("Cat", "Dan", "Eve", "Fay")]
BOB_NAMED = "Our joint timetable went out to every family."
ANN_NAMED = "Ann's own reflection on the timetable."
BOB_SECRET = "Honestly the forum feels like a talking shop."
OTHER_SECRET = "The new venue works for families with buggies."
LINK = re.compile(r"https://bot\.example\.org/exports/([\w-]+)")


def partnership(frameworks: dict[str, Any], **more: Any) -> Partnership:
    return Partnership(
        first_contact_becomes_coordinator=True,
        frameworks=frameworks,
        public_url="https://bot.example.org",
        **more,
    )


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(store, partnership(frameworks), clock=clock)
    await say(bot, ANN, "area add Marr")
    for who in (ANN, BOB, *OTHERS):
        await say(bot, who, "me area Marr")
    await say(bot, BOB, "me org Aberdeenshire Council")
    await say(bot, BOB, "me expertise family violence and trauma")
    return bot


async def count(store, model: Any, *where: Any) -> int:
    async with store.unit() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model).where(*where))


async def member_id(store, user) -> int:
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", "T1", user.user_id)
        return identity.member_id


async def download(core: Partnerbot, text: str) -> tuple[str, bytes]:
    token = LINK.search(text)
    assert token, text
    found = await core.download(token.group(1))
    assert found is not None
    return found.filename, found.data


async def named_then_anonymous(core: Partnerbot, clock) -> None:
    """A named check-in (learning partnerships) Bob and Ann answer, closed; then an anonymous
    one (QI 3.2) Bob and four others answer, still open."""
    await say(core, ANN, "checkin start learning-partnerships questions=1 closes=2026-03-31")
    await say(core, BOB, "checkin answer 1 1", form={"rating": "4", "working_well": BOB_NAMED})
    await say(core, ANN, "checkin answer 1 1", form={"rating": "3", "working_well": ANN_NAMED})
    await say(core, ANN, "checkin close")
    await say(core, ANN, "checkin start qi-3.2 questions=1 closes=2026-03-31 anonymous")
    await say(core, BOB, "checkin answer 2 1", form={"rating": "2", "working_well": BOB_SECRET})
    for who in OTHERS:
        await say(
            core, who, "checkin answer 2 1", form={"rating": "5", "working_well": OTHER_SECRET}
        )


async def everything_else(core: Partnerbot, clock) -> None:
    """Bob's meeting, practice, action and risk; Ann records a role and saves his message."""
    await say(core, ANN, 'meeting schedule "Marr forum" 2026-03-10 10:30 area=Marr')
    await say(core, BOB, "rsvp 1 yes")
    clock.now = datetime(2026, 3, 10, 10, 20, tzinfo=UTC)
    assert "You're checked in" in await say(core, BOB, "attend 1")
    await say(core, ANN, "attend 1")
    clock.now = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    await say(core, BOB, 'practice share "Interpreters" Booking interpreters helped #language')
    message = {"text": "A drop-in at the school gate.", "source_author": "Raj Patel"}
    await replies_to(core, BOB, "practice draft", form=message, where=channel())
    bobs = {"text": "Bob's idea: a crèche at every forum.", "source_author": "Bob"}
    await replies_to(core, ANN, "practice draft", form=bobs, where=channel())
    await say(core, BOB, 'action add "Book interpreters for April" due=2026-04-30')
    await say(core, ANN, "role @Bob manager", [BOB])
    await say(core, person("Max"), "me")
    await say(core, ANN, "role @Max manager")
    await say(core, BOB, "risk The venue's funding ends in April")


# -- mydata export ---------------------------------------------------------------------------


async def test_a_members_copy_of_their_data_holds_everything_about_them_only(core, clock):
    await named_then_anonymous(core, clock)
    await everything_else(core, clock)

    answer = await say(core, BOB, "mydata export")
    assert "partnerbot-my-data-2026-03-10.json holds everything partnerbot keeps about you" in (
        answer
    )
    assert "[Download JSON: https://bot.example.org/exports/" in answer
    filename, raw = await download(core, answer)
    assert filename == "partnerbot-my-data-2026-03-10.json"
    data = json.loads(raw)
    text = raw.decode()

    assert data["format"] == "partnerbot-my-data"
    assert data["member"]["name"] == "Bob"
    assert (data["member"]["area"], data["member"]["organisation"]) == (
        "Marr",
        "Aberdeenshire Council",
    )
    [identity] = data["identities"]
    assert (identity["platform"], identity["user_id"], identity["private_chat"]) == (
        "slack",
        "UBOB",
        "DUBOB",
    )
    assert "conversation_reference" not in identity and "serviceUrl" not in text
    assert [r["role"] for r in data["roles"]] == ["expert", "manager"]
    assert [e["topic"] for e in data["expertise"]] == ["family violence and trauma"]

    [named] = data["check_ins"]["answers"]
    assert (named["check_in"], named["framework"], named["question"], named["rating"]) == (
        1,
        "learning-partnerships",
        1,
        4,
    )
    assert named["question_text"] and named["rating_label"]
    assert named["written"][0]["prompt"] == "working_well"
    assert named["written"][0]["text"] == BOB_NAMED
    participation = {p["check_in"]: p for p in data["check_ins"]["participation"]}
    assert participation[1]["anonymous"] is False and "note" not in participation[1]
    assert participation[2]["anonymous"] is True and participation[2]["status"] == "done"
    assert "nothing linking them to you" in participation[2]["note"]
    # Never an anonymous answer (not linked to him), never anyone else's.
    assert BOB_SECRET not in text and OTHER_SECRET not in text and ANN_NAMED not in text

    assert [(r["meeting"], r["answer"]) for r in data["meetings"]["rsvps"]] == [(1, "yes")]
    [attended] = data["meetings"]["attendance"]
    assert attended["checked_in"] == "2026-03-10T10:20:00+00:00"
    assert attended["marked_by_a_coordinator"] is False
    records = {r["title"]: r for r in data["practice_records"]}
    assert records["Interpreters"]["status"] == "published"
    assert records["Interpreters"]["tags"] == ["language"]
    assert records["A drop-in at the school gate."]["status"] == "draft"
    assert "Bob's idea" not in text  # Ann saved it: her record, not his
    [action] = data["actions"]
    assert action["text"] == "Book interpreters for April"
    assert action["you"] == ["own it", "added it"] and action["due"] == "2026-04-30"
    [risk] = data["risks_reported"]
    assert risk["text"] == "The venue's funding ends in April" and risk["area"] == "Marr"
    assert [e["subject"] for e in data["audit_trail"]] == ["Bob is now a manager"]
    assert {m["kind"] for m in data["messages_to_you"]} >= {"checkin.invite", "meeting.reminder"}


async def test_asked_for_in_a_channel_the_link_goes_to_the_private_chat(core, store):
    [reply] = await replies_to(core, BOB, "mydata export", where=channel())
    assert reply.private
    assert "I've sent the link to you privately" in reply.view.summary
    assert "/exports/" not in reply.view.summary
    async with store.unit() as uow:
        [row] = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.startswith("mydata:"))
        )
    assert row.member_id == await member_id(store, BOB) and row.kind == "notice"
    assert LINK.search(row.view["summary"])


# -- mydata delete ---------------------------------------------------------------------------


async def test_erasing_asks_first_and_nobody_can_erase_someone_else(core, store):
    [prompt] = await replies_to(core, BOB, "mydata delete")
    [buttons] = [b for b in prompt.view.blocks if isinstance(b, Actions)]
    assert [(b.label, b.command) for b in buttons.buttons] == [
        ("Erase my data", "mydata delete confirm"),
        ("Keep it", "help privacy"),
    ]
    assert "It can't be undone" in prompt.view.summary
    # Asked for in a channel, the question goes to the private chat; the deed can't be done
    # there at all.
    [elsewhere] = await replies_to(core, BOB, "mydata delete", where=channel())
    assert elsewhere.private and "direct message to confirm" in elsewhere.view.summary
    refused = await say(core, BOB, "mydata delete confirm", form={}, where=channel())
    assert "Erasing your data is done in private" in refused
    # A coordinator naming someone: the grammar has no place for it, and nothing happens.
    wrong = await say(core, ANN, "mydata delete @Bob", [BOB])
    assert "I didn't expect `@Bob` after `mydata delete`." in wrong
    assert "Usage: mydata delete [confirm]" in wrong
    assert await count(store, Member) == 6 and await count(store, Identity) == 6
    only = await say(core, ANN, "mydata delete")
    assert "You are the only coordinator" in only
    assert "only coordinator" not in await say(core, BOB, "mydata delete")


async def test_erasure_deletes_the_person_and_keeps_the_anonymous_report_as_it_was(
    core, store, clock
):
    await named_then_anonymous(core, clock)
    await everything_else(core, clock)
    bob = await member_id(store, BOB)
    report_before = await say(core, ANN, "checkin report")
    _, csv_before = await download(core, await say(core, ANN, "checkin report format=csv"))
    status_before = await say(core, ANN, "checkin status")
    attendance_before = await say(core, ANN, "meeting attendance 1")
    areas_before = await say(core, ANN, "areas")
    assert "5 of 6 members done" in status_before
    assert "2 partners attended Marr forum" in attendance_before
    assert await count(store, AnonymousResponse) == 5

    done = await say(core, BOB, "mydata delete confirm", form={})
    assert "Done: your data is erased, including 1 check-in answer." in done

    assert await count(store, Member, Member.id == bob) == 0
    for model, column in (
        (Identity, Identity.member_id),
        (Role, Role.member_id),
        (Response, Response.member_id),
        (Participant, Participant.member_id),
        (OutboxMessage, OutboxMessage.member_id),
        (Export, Export.member_id),
    ):
        assert await count(store, model, column == bob) == 0, model
    async with store.unit() as uow:
        [ann_answer] = await uow.session.scalars(select(Response))
        assert ann_answer.texts == {"working_well": ANN_NAMED}
        # Unnamed: his part in the anonymous cycle, and his attendance.
        [unnamed] = await uow.session.scalars(select(UnnamedParticipant))
        assert (unnamed.cycle_id, unnamed.status, unnamed.answered) == (2, "done", 1)
        [attended] = await uow.session.scalars(select(UnnamedAttendance))
        assert attended.meeting_id == 1 and attended.organisation_id is not None
        records = {r.title: r for r in await uow.session.scalars(select(PracticeRecord))}
        assert records["Interpreters"].author_id is None  # published: kept without him
        assert "A drop-in at the school gate." not in records  # his draft: deleted
        saved_by_ann = records["Bob's idea: a crèche at every forum."]
        assert saved_by_ann.author_id is not None and saved_by_ann.source_author is None
        [action] = await uow.session.scalars(select(ActionItem))
        assert (action.owner_id, action.created_by_id) == (None, None)
        [risk] = await uow.session.scalars(select(Risk))
        assert risk.reporter_id is None and risk.text == "The venue's funding ends in April"
        # His risk's alert to the manager no longer carries his name.
        [alert] = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.startswith("risk:"))
        )
        assert "Bob" in alert.view["summary"]  # still pending: it goes out as reported
        events = list(await uow.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert await count(store, AnonymousResponse) == 5

    # The anonymous report, its file and the response counts are exactly as before.
    assert await say(core, ANN, "checkin report") == report_before
    _, csv_after = await download(core, await say(core, ANN, "checkin report format=csv"))
    assert csv_after == csv_before
    assert await say(core, ANN, "checkin status") == status_before
    attendance = await say(core, ANN, "meeting attendance 1")
    assert "2 partners attended Marr forum" in attendance
    assert "and 1 more who has since erased their data" in attendance
    assert "Bob" not in attendance
    assert "Marr - 6 members - at 1 forum (2 attendances), last 10 Mar 2026" in areas_before
    assert "Marr - 5 members - at 1 forum (2 attendances), last 10 Mar 2026" in await say(
        core, ANN, "areas"
    )
    assert "a former member" in await say(core, ANN, "practice 1")

    # The audit trail: the erasure by member number, and nobody's name where he was the
    # subject.
    erased = events[-1]
    assert (erased.action, erased.actor_name) == ("data erased", "partnerbot")
    assert erased.subject == f"member {bob}, at their own request"
    assert erased.detail["erased member"] == bob
    assert erased.detail["rows"]["named answers"] == 1
    subjects = [event.subject for event in events]
    assert f"member {bob} is now a manager" in subjects
    [role] = [event for event in events if event.subject == f"member {bob} is now a manager"]
    # Nothing is "about" his number any more (SQLite can give it to a newcomer).
    assert role.detail == {"role": "manager", "erased member": bob}
    assert not any(event.detail.get("member") == bob for event in events)
    assert not any("Bob" in subject for subject in subjects)
    trail = await say(core, ANN, 'audit action="data erased"')
    assert f"partnerbot - data erased: member {bob}, at their own request" in trail

    # Talking again, Bob is someone new.
    assert "Welcome, Bob! You're now a member" in await say(core, BOB, "me")
    assert await member_id(store, BOB) != bob


async def test_a_sent_report_that_showed_their_answers_is_forgotten(core, store, clock):
    await say(core, ANN, "checkin start learning-partnerships questions=1 closes=2026-03-31")
    await say(core, BOB, "checkin answer 1 1", form={"rating": "4", "working_well": BOB_NAMED})
    await say(core, ANN, "checkin report", where=channel())  # sent to Ann's private chat
    async with store.unit() as uow:
        await uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key.startswith("report:1:"))
            .values(status="sent")
        )
    await say(core, BOB, "mydata delete confirm", form={})
    async with store.unit() as uow:
        [sent] = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.key.startswith("report:1:"))
        )
    assert sent.view == FORGOTTEN_VIEW


# -- retention -------------------------------------------------------------------------------


def test_months_before_counts_calendar_months():
    assert months_before(datetime(2027, 3, 31, 2, 0, tzinfo=UTC), 1) == datetime(
        2027, 2, 28, 2, 0, tzinfo=UTC
    )
    assert months_before(datetime(2027, 1, 15, tzinfo=UTC), 13) == datetime(
        2025, 12, 15, tzinfo=UTC
    )
    assert months_before(datetime(2028, 3, 29, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("months", [0, 12])
async def test_retention_keeps_ratings_unnamed_and_deletes_what_was_written(
    store, frameworks, clock, months
):
    core = Partnerbot(store, partnership(frameworks, retention_months=months), clock=clock)
    await say(core, ANN, "area add Marr")
    for who in (ANN, BOB, *OTHERS):
        await say(core, who, "me area Marr")
    await named_then_anonymous(core, clock)
    await core.run_jobs(datetime(2026, 4, 1, 0, 0, tzinfo=UTC))  # closes the anonymous cycle
    async with store.unit() as uow:
        await uow.session.execute(update(OutboxMessage).values(status="sent"))
    clock.now = datetime(2027, 3, 20, 9, 0, tzinfo=UTC)
    await say(core, ANN, "checkin start family-school questions=1 closes=2027-04-30")
    await say(core, BOB, "checkin answer 3 1", form={"rating": "3", "working_well": "Recent."})

    # A day short of a year after the named cycle closed: nothing goes.
    await core.run_jobs(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    assert await count(store, Response) == 3
    # Past a year for both: on the next day's run the names and words go, ratings stay.
    await core.run_jobs(datetime(2027, 4, 2, 3, 0, tzinfo=UTC))
    if months == 0:
        assert await count(store, Response) == 3
        assert await count(store, Participant) == 18
        assert "retention period" in await say(core, BOB, "help privacy")
        return
    async with store.unit() as uow:
        [recent] = await uow.session.scalars(select(Response))
        assert recent.cycle_id == 3 and recent.texts == {"working_well": "Recent."}
        rows = list(await uow.session.scalars(select(AnonymousResponse)))
        assert sorted((r.cycle_id, r.rating) for r in rows) == [
            (1, 3),
            (1, 4),
            (2, 2),
            (2, 5),
            (2, 5),
            (2, 5),
            (2, 5),
        ]
        assert all(r.texts == {} for r in rows)
        participants = list(await uow.session.scalars(select(Participant)))
        assert {p.cycle_id for p in participants} == {3}
        assert await uow.session.scalar(select(func.count()).select_from(UnnamedParticipant)) == 12
        expired = await uow.checkins.cycle(1)
        assert expired.answers_expired_at == datetime(2027, 4, 2, 3, 0, tzinfo=UTC)
        old = list(
            await uow.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.created_at < datetime(2027, 1, 1, tzinfo=UTC)
                )
            )
        )
        assert old and all(row.view == FORGOTTEN_VIEW for row in old)
        [event] = await uow.audit.recent(action="answers expired")
    assert event.subject == "7 answers in 2 check-ins, 12 months after closing"
    # The expired named cycle's report still has its ratings and response counts, and no
    # words or names.
    async with store.unit() as uow:
        cycle = await uow.checkins.cycle(1)
        answers = await uow.checkins.answers(cycle)
        data = await report_data(uow, cycle, frameworks, timezone="Europe/London")
    assert sorted(a.rating for a in answers) == [3, 4]
    assert all(a.member is None and a.texts == {} for a in answers)
    assert (data.cycle.invited, data.cycle.responded) == ({"Marr": 6}, {"Marr": 2})
    markdown = render_markdown(data)
    assert BOB_NAMED not in markdown and ANN_NAMED not in markdown and "Bob" not in markdown
    # Once a day: a second run that day changes nothing more.
    await core.run_jobs(datetime(2027, 4, 2, 3, 1, tzinfo=UTC))
    async with store.unit() as uow:
        assert len(await uow.audit.recent(action="answers expired")) == 1
    notice = await say(core, BOB, "help privacy")
    assert "12 months after a check-in closes" in notice


# -- the privacy notice ----------------------------------------------------------------------


async def test_help_privacy_is_the_privacy_notice(store, frameworks, clock):
    core = Partnerbot(
        store,
        partnership(frameworks, retention_months=24, privacy_contact="dpo@aberdeenshire.example"),
        clock=clock,
    )
    notice = await say(core, ANN, "help privacy")
    for expected in (
        "mydata export - a copy of everything held about you",
        "mydata delete [confirm] - erase your data",
        "risk <description of the risk> - report a risk to delivery",
        "PRIVACY NOTICE",
        "Questions about your data go to dpo@aberdeenshire.example",
        "Your answers are shown only to you, in your private chat with partnerbot, and to "
        "coordinators and programme managers in reports.",
        "24 months after a check-in closes",
        "the download link works for 24 hours",
        "ico.org.uk",
        "oaic.gov.au",
    ):
        assert expected in notice, expected
    assert "PRIVACY NOTICE" in await say(core, ANN, "help gdpr")
    assert "PRIVACY NOTICE" not in await say(core, ANN, "help meetings")


# -- risk ------------------------------------------------------------------------------------


async def test_a_risk_goes_privately_to_the_programme_managers(core, store, clock):
    for name in ("Max", "Mo"):
        await say(core, person(name), "me")
        assert "is now a manager" in await say(core, ANN, f"role @{name} manager")
    clock.now = START + timedelta(minutes=5)
    [reply] = await replies_to(core, BOB, "risk The venue's funding ends in April", where=channel())
    assert reply.private
    assert reply.view.summary == ("Thank you: risk 1 is sent privately to the programme managers.")
    async with store.unit() as uow:
        [risk] = await uow.session.scalars(select(Risk))
        rows = list(
            await uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "risk.alert")
            )
        )
    assert risk.text == "The venue's funding ends in April"
    assert risk.reporter_id == await member_id(store, BOB)
    managers = {await member_id(store, person("Max")), await member_id(store, person("Mo"))}
    assert {row.member_id for row in rows} == managers
    assert {row.key for row in rows} == {f"risk:1:member:{m}" for m in managers}
    [row, _] = rows
    assert row.view["summary"] == "Risk to delivery from Bob: The venue's funding ends in April"
    facts = next(b for b in row.view["blocks"] if b["type"] == "facts")["items"]
    assert facts == [
        ["Reported by", "Bob"],
        ["Area", "Marr"],
        ["Organisation", "Aberdeenshire Council"],
        ["When", "Mon 02 Mar 2026 09:05 (Europe/London)"],
    ]


async def test_with_no_manager_a_risk_goes_to_the_coordinators(core, store):
    answer = await say(core, BOB, "risk Two tutors are leaving")
    assert "sent privately to your coordinator (there is no programme manager yet)" in answer
    async with store.unit() as uow:
        [row] = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "risk.alert")
        )
    assert row.member_id == await member_id(store, ANN)
    # The only coordinator reporting one: there is nobody else, and it is still kept.
    assert "kept on record; there is no programme manager" in await say(
        core, ANN, "risk Our room booking lapses"
    )
    assert await count(store, Risk) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("risk", "`risk` needs the description of the risk."),
        ("risk    ", "`risk` needs the description of the risk."),
        ('risk ""', "`risk` needs the description of the risk."),
        ("risk " + "x" * 2001, "that risk is too long (2001 characters; the most is 2000)."),
    ],
)
async def test_a_bad_risk_gets_its_usage_and_saves_nothing(core, store, text, problem):
    answer = await say(core, BOB, text)
    assert f"Sorry, {problem}" in answer
    assert "Usage: risk <description of the risk>" in answer
    assert await count(store, Risk) == 0
    assert await count(store, OutboxMessage, OutboxMessage.kind == "risk.alert") == 0


async def test_an_installer_of_the_slack_app_is_taken_off_its_installation(core, store, clock):
    async with store.unit() as uow:
        await uow.slack_installs.save_installation(
            {
                "client_id": "111.222",
                "app_id": "A1",
                "team_id": "T1",
                "bot_token": "ciphertext-of-the-bot-token",
                "user_id": BOB.user_id,
                "user_token": "ciphertext-of-bobs-user-token",
                "user_scopes": "search:read",
                "installed_at": clock(),
            }
        )
    await say(core, BOB, "mydata delete confirm", form={})
    async with store.unit() as uow:
        [row] = (await uow.session.execute(select(SlackInstallation))).scalars().all()
    # The workspace keeps its bot; the person who installed it is no longer named on it.
    assert (row.team_id, row.bot_token) == ("T1", "ciphertext-of-the-bot-token")
    assert (row.user_id, row.user_token, row.user_scopes) == ("erased", None, None)
