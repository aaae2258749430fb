"""From answers given in chat to the report a coordinator downloads: four areas answer QI 3.2
challenge questions 1, 3, 4 and 7 (the answers of tests/dialogs/test_reports.py, in the spirit of
seed 002) through the check-in flow, by card and by typing, on both databases."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from docx import Document
from sqlalchemy import select

from config.frameworks import load_frameworks
from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from dialogs.views import Actions, Image
from storage.db import create_engine
from storage.models import OutboxMessage
from storage.repositories import Store
from tests.dialogs.conversation import START, channel, person, replies_to, say
from tests.dialogs.test_reports import (
    ANSWERS_2024,
    AREAS,
    PNG,
    PROMPT_HEADINGS,
    QUESTIONS,
    area_heading,
    attributed,
    markdown_sections,
    question_heading,
)

CORA = person("Cora")  # the coordinator; in no area, so not asked
TYPIST = "Aileen Gordon"  # answers by typing rather than by card


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(
        store,
        Partnership(
            first_contact_becomes_coordinator=True,
            frameworks=frameworks,
            public_url="https://bot.example.org",
        ),
        clock=clock,
    )
    await say(bot, CORA, "me")
    for area in AREAS:
        await say(bot, CORA, f'area add "{area}"')
    people = {}
    for area, _, _, _, _, _, name, organisation in ANSWERS_2024:
        if name not in people:
            people[name] = person(name)
            assert f"in {area}." in await say(bot, people[name], f'me area "{area}"')
            await say(bot, people[name], f'me org "{organisation}"')
    bot.people = people  # type: ignore[attr-defined]
    return bot


def form_of(row: tuple) -> dict[str, str]:
    _, _, rating, well, evidence, priorities, _, _ = row
    return {
        "rating": "" if rating is None else str(rating),
        "working_well": well,
        "evidence": evidence,
        "priorities": priorities,
    }


async def answer_everything(core: Partnerbot) -> None:
    people = core.people  # type: ignore[attr-defined]
    for row in ANSWERS_2024:
        name, number = row[6], row[1]
        if name == TYPIST:
            continue
        reply = await say(core, people[name], f"checkin answer 1 {number}", form=form_of(row))
        assert f"Saved question {number}." in reply, reply
    # The typist: `checkin`, then the rating and each prompt as messages ("-" for nothing).
    typist = people[TYPIST]
    rows = {row[1]: row for row in ANSWERS_2024 if row[6] == TYPIST}
    assert "QUESTION 1 OF 4" in await say(core, typist, "checkin")
    for number in QUESTIONS:
        if number not in rows:
            assert f"Skipped question {number}." in await say(
                core, typist, f"checkin skip 1 {number}", form={}
            )
            continue
        _, _, rating, well, evidence, priorities, _, _ = rows[number]
        await say(core, typist, str(rating))
        await say(core, typist, well or "-")
        await say(core, typist, evidence or "-")
        assert f"Saved question {number}." in await say(core, typist, priorities or "-")


async def download(core: Partnerbot, reply_text: str) -> tuple[str, bytes]:
    url = re.search(r"https://bot\.example\.org/exports/([\w-]+)", reply_text)
    assert url, reply_text
    found = await core.download(url.group(1))
    assert found is not None
    return found.filename, found.data


async def test_answers_given_in_chat_come_out_under_their_area_and_question(core, clock):
    opened = await say(
        core, CORA, "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31"
    )
    assert "for 4 areas" in opened
    await answer_everything(core)
    clock.now = START + timedelta(days=1)

    filename, data = await download(core, await say(core, CORA, "checkin report format=md"))
    assert filename == "qi-3.2-checkin-1.md"
    markdown = data.decode()
    qi = load_frameworks()["qi-3.2"]
    sections = markdown_sections(markdown)
    expected = set()
    for area, number, _, well, evidence, priorities, name, organisation in ANSWERS_2024:
        for key, text in (
            ("working_well", well),
            ("evidence", evidence),
            ("priorities", priorities),
        ):
            if text:
                where = (area_heading(area), question_heading(qi, number), PROMPT_HEADINGS[key])
                expected.add(where)
                assert attributed(text, name, organisation, markdown=True) in sections[where], where
    assert {k for k, v in sections.items() if v} == expected
    assert sum(len(v) for v in sections.values()) == sum(
        bool(t) for row in ANSWERS_2024 for t in row[3:6]
    )
    h2 = [line[3:] for line in markdown.split("\n") if line.startswith("## ")]
    assert h2 == [
        "Response rates",
        *(area_heading(a) for a in sorted(AREAS)),
        "Partnership summary",
    ]
    assert "interim" in markdown.casefold()  # the cycle is still open
    # Marr's question 1: ratings 3, 3, 4 (the typist's 3 among them).
    marr = markdown.split(f"## {area_heading('Marr')}")[1]
    assert "median **satisfactory** (3)" in marr.split("### ")[1]


async def test_the_report_in_chat_and_each_export(core, clock):
    await say(core, CORA, "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31")
    await answer_everything(core)
    (reply,) = await replies_to(core, CORA, "checkin report")
    blocks = reply.view.blocks
    assert any(isinstance(b, Image) and b.data.startswith(PNG) for b in blocks)
    buttons = [b for block in blocks if isinstance(block, Actions) for b in block.buttons]
    assert [b.command for b in buttons][:4] == [
        "checkin report format=md",
        "checkin report format=docx",
        "checkin report format=csv",
        "checkin report format=png",
    ]

    name, data = await download(core, await say(core, CORA, "checkin report format=csv"))
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert name == "qi-3.2-checkin-1.csv" and len(rows) == len(ANSWERS_2024)

    name, data = await download(
        core, await say(core, CORA, 'checkin report format=docx area="Banff and Buchan"')
    )
    assert name == "qi-3.2-checkin-1-banff-and-buchan.docx"
    text = "\n".join(p.text for p in Document(io.BytesIO(data)).paragraphs)
    assert "Diversionary project and youth hub." in text
    assert "We are still in transition" not in text  # Marr's, not in this area's report

    (png,) = await replies_to(core, CORA, "checkin report format=png")
    assert any(isinstance(b, Image) and b.data.startswith(PNG) for b in png.view.blocks)

    # Links last a day.
    url = re.search(r"/exports/([\w-]+)", await say(core, CORA, "checkin report format=md"))
    clock.now += timedelta(hours=24, seconds=1)
    assert await core.download(url.group(1)) is None
    assert await core.download("no-such-token") is None


async def test_reports_are_for_coordinators_and_only_in_private(core, store):
    await say(core, CORA, "checkin start qi-3.2 questions=1 areas=all closes=2026-03-31")
    member = core.people["Iain Sim"]  # type: ignore[attr-defined]
    assert "Sorry, `checkin report` is for coordinators and programme managers." in await say(
        core, member, "checkin report"
    )
    answer = await say(core, CORA, "checkin report", where=channel())
    assert "I've sent it to you privately" in answer
    async with store.unit() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
        sent = [row for row in rows if row.key.startswith("report:1:member:")]
        assert len(sent) == 1 and sent[0].member_id is not None
        assert sent[0].view["summary"].startswith("QI 3.2 Partnership working: check-in report")
    assert "There's no area called Nowhere." in await say(core, CORA, "checkin report area=Nowhere")
    assert "format=" in await say(core, CORA, "checkin report format=pdf")


async def test_priorities_become_actions_and_the_next_cycle_shows_their_progress(core, clock):
    await say(core, CORA, "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31")
    await answer_everything(core)
    (listing,) = await replies_to(core, CORA, "checkin priorities area=Marr")
    texts = [b.text for b in listing.view.blocks if hasattr(b, "text")]
    marr_q1 = "Marr, question 1: Bring partners together at Marr level and in each community."
    assert marr_q1 in texts
    assert not any("Kincardine" in t for t in texts)  # one area asked for
    presses = [
        button.command
        for block in listing.view.blocks
        if isinstance(block, Actions)
        for button in block.buttons
    ]
    first = presses[0]
    assert first == (
        'action add "Bring partners together at Marr level and in each community." '
        "area=Marr question=1"
    )
    assert "Action 1 added for Marr owned by Cora." in await say(core, CORA, first, form={})
    assert "Action 2 added for Marr" in await say(core, CORA, presses[1], form={})
    again = await say(core, CORA, "checkin priorities area=Marr")
    assert again.count("Already an action.") == 2
    assert "Action 1 is done" in await say(core, CORA, "action done 1")
    actions = await say(core, CORA, "actions")
    assert "ACTION PLAN: 1 OF 2 DONE" in actions and " - Marr - Cora - done" in actions

    await say(core, CORA, "checkin close")
    clock.now = START + timedelta(days=40)
    opened = await say(core, CORA, "checkin start qi-3.2 questions=1,3 areas=all closes=2026-05-29")
    assert "Action plan from the previous cycle: 1 of 2 done" in opened
    _, data = await download(core, await say(core, CORA, "checkin report format=md"))
    markdown = data.decode()
    progress = markdown.split("## Progress on the previous action plan")[1]
    assert "Action plan from the previous cycle: 1 of 2 done." in progress
    assert (
        "| 1 | Bring partners together at Marr level and in each community. | Marr | 1 | Cora "
        in progress
    )
    assert "| done |" in progress and "| open |" in progress
    _, docx = await download(core, await say(core, CORA, "checkin report format=docx"))
    document = Document(io.BytesIO(docx))
    assert "Progress on the previous action plan" in [p.text for p in document.paragraphs]
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    assert "Bring partners together at Marr level and in each community." in cells
    (view,) = await replies_to(core, CORA, "checkin report")
    assert "Action plan from the previous cycle: 1 of 2 done." in [
        b.text for b in view.view.blocks if hasattr(b, "text")
    ]
    # Members can't see or make them.
    iain = core.people["Iain Sim"]  # type: ignore[attr-defined]
    assert "`checkin priorities` is for coordinators and programme managers" in await say(
        core, iain, "checkin priorities"
    )


async def test_after_a_restart_a_member_resumes_where_they_stopped(
    core, store, clock, database_url
):
    await say(core, CORA, "checkin start qi-3.2 questions=1,3 areas=Marr closes=2026-03-31")
    callum = core.people["Callum Reid"]  # type: ignore[attr-defined]
    await say(core, callum, "checkin")
    await say(core, callum, "4")  # typed rating; now asked "What is working well?"
    # The process restarts: a new engine and core on the same database.
    restarted = Partnerbot(
        Store(create_engine(database_url)),
        Partnership(frameworks=load_frameworks(), public_url="https://bot.example.org"),
        clock=clock,
    )
    try:
        assert "How do you know?" in await say(restarted, callum, "Shared planning days")
        await say(restarted, callum, "-")
        assert "Saved question 1." in await say(restarted, callum, "More joint training")
        assert "QUESTION 2 OF 2" in await say(restarted, callum, "checkin")
        async with restarted.store.unit() as uow:
            (member,) = await uow.members.by_name("Callum Reid")
            saved = await uow.checkins.named_response(1, member.id, 1)
            assert (saved.rating, saved.texts) == (
                4,
                {"working_well": "Shared planning days", "priorities": "More joint training"},
            )
    finally:
        await restarted.store.close()


async def test_an_anonymous_report_names_nobody_and_hides_small_areas(core):
    await say(
        core,
        CORA,
        "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31 anonymous",
    )
    await answer_everything(core)
    _, data = await download(core, await say(core, CORA, "checkin report format=md"))
    markdown = data.decode()
    # Every area has fewer than 5 respondents: none is shown on its own, no one is named.
    for name in core.people:  # type: ignore[attr-defined]
        assert name not in markdown
    assert not any(
        line.startswith(f"## {area_heading(a)}") for a in AREAS for line in markdown.split("\n")
    )
    assert "fewer than 5" in markdown
    status = await say(core, CORA, "checkin status")
    assert "Aileen" not in status  # who is outstanding is not kept in anonymous cycles


async def test_a_cycle_sets_its_own_threshold_for_hiding_small_areas(core):
    opened = await say(
        core,
        CORA,
        "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31 anonymous min=3",
    )
    assert "Reports will leave out any area with fewer than 3 respondents, and say so." in opened
    await answer_everything(core)
    _, data = await download(core, await say(core, CORA, "checkin report format=md"))
    markdown = data.decode()
    # Marr has 3 respondents; the others 2, 2 and 1.
    assert f"## {area_heading('Marr')}" in markdown
    for area in ("Kincardine and Mearns", "Banff and Buchan", "Formartine"):
        assert f"## {area_heading(area)}" not in markdown
    assert "3 areas not shown: fewer than 3 respondents." in markdown
    assert "3 areas not shown: fewer than 3 respondents." in await say(core, CORA, "checkin report")


async def test_the_partnerships_threshold_applies_when_a_cycle_sets_none(
    core, store, clock, frameworks
):
    lower = Partnerbot(
        store,
        Partnership(
            frameworks=frameworks,
            public_url="https://bot.example.org",
            min_respondents=2,
        ),
        clock=clock,
    )
    lower.people = core.people  # type: ignore[attr-defined]
    opened = await say(
        lower, CORA, "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31 anonymous"
    )
    assert "fewer than 2 respondents" in opened
    await answer_everything(lower)
    _, data = await download(lower, await say(lower, CORA, "checkin report format=md"))
    markdown = data.decode()
    for area in ("Marr", "Kincardine and Mearns", "Banff and Buchan"):
        assert f"## {area_heading(area)}" in markdown
    assert f"## {area_heading('Formartine')}" not in markdown
    assert "1 area not shown: fewer than 2 respondents." in markdown


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("anonymous min=1", "min= takes a number of respondents from 2 to 100, not 1."),
        ("anonymous min=0", "min= takes a number of respondents from 2 to 100, not 0."),
        ("anonymous min=101", "min= takes a number of respondents from 2 to 100, not 101."),
        ("anonymous min=few", "min= takes a whole number, not `few`."),
        ("min=3", "min= is for anonymous check-ins (add `anonymous`)"),
    ],
)
async def test_a_bad_threshold_is_refused_with_the_usage(core, store, option, problem):
    answer = await say(core, CORA, f"checkin start qi-3.2 closes=2026-03-31 {option}")
    assert f"Sorry, {problem}" in answer
    assert "Usage: checkin start <framework> [questions=<1,3,4,7>]" in answer
    assert "[min=<n>] [anonymous]" in answer
    async with store.unit() as uow:
        assert await uow.checkins.latest_cycle() is None
        assert (await uow.session.scalars(select(OutboxMessage))).all() == []
