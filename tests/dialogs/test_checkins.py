"""Check-ins as members and coordinators live them, on a fixed clock, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from dialogs.views import Actions, ChoiceInput, TextInput
from storage.models import AnonymousResponse, Base, Cycle, OutboxMessage, Response
from tests.dialogs.conversation import channel, person, replies_to, say, verify_dialog

ANN, BOB, CAT = person("Ann"), person("Bob"), person("Cat")
WELL = "Joint planning has started as part of reimagining the LLCPs."


@pytest.fixture
async def core(store, frameworks, clock) -> Partnerbot:
    bot = Partnerbot(
        store,
        Partnership(first_contact_becomes_coordinator=True, frameworks=frameworks),
        clock=clock,
    )
    await say(bot, ANN, "area add Marr")
    await say(bot, ANN, "area add Formartine")
    await say(bot, ANN, "me area Marr")
    await say(bot, BOB, "me area Marr")
    await say(bot, CAT, "me area Formartine")
    return bot


async def count(store, model) -> int:
    async with store.unit() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model))


async def outbox(store) -> dict[str, OutboxMessage]:
    async with store.unit() as uow:
        rows = await uow.session.scalars(select(OutboxMessage))
        return {row.key: row for row in rows}


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (
            "checkin start qi-9",
            "There's no framework `qi-9`. Frameworks: family-school, "
            "learning-partnerships, qi-3.2.",
        ),
        ("checkin start qi-3.2 questions=1,13", "qi-3.2 has no question 13"),
        ("checkin start qi-3.2 areas=Marr,Nowhere", "There's no area called Nowhere."),
        ("checkin start qi-3.2 closes=2026-03-01", "The closing date 01 Mar 2026 is in the past."),
        ("checkin start qi-3.2 questions=one", "questions= takes numbers separated by commas"),
    ],
)
async def test_a_bad_start_is_refused_and_creates_nothing(core, store, command, reason):
    assert reason in await say(core, ANN, command)
    assert await count(store, Cycle) == 0
    assert await outbox(store) == {}


async def test_opening_invites_every_member_privately(core, store):
    answer = await say(
        core, ANN, "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31"
    )
    assert (
        "Opened QI 3.2 Partnership working (questions 1, 3, 4, 7) for 2 areas, closing "
        "Tue 31 Mar 2026 23:59 (Europe/London)."
    ) in answer
    assert "Inviting 3 members privately." in answer
    queued = await outbox(store)
    invites = [row for key, row in queued.items() if key.endswith(":invite")]
    assert len(invites) == 3 and all(row.member_id for row in invites)
    assert (
        invites[0]
        .view["summary"]
        .startswith("Partnership check-in: QI 3.2 Partnership working, 4 questions")
    )
    # Nudges are queued by the scheduled job when they fall due, with the progress by then.
    assert not [key for key in queued if ":nudge:" in key]
    assert "already open" in await say(core, ANN, "checkin start qi-3.2")


async def test_a_member_answers_one_question_at_a_time_by_card_and_by_typing(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3,4,7 closes=2026-03-31")
    (card,) = await replies_to(core, BOB, "checkin")
    assert card.view.summary.startswith("Question 1 of 4: 1. How well do we actively seek out")
    rating = next(b for b in card.view.blocks if isinstance(b, ChoiceInput))
    assert rating.options[0] == ("6", "6 excellent - outstanding or sector-leading")
    prompts = [b.label for b in card.view.blocks if isinstance(b, TextInput)]
    assert prompts == [
        "What is working well?",
        "How do you know? What evidence do you have of positive impact?",
        "What are your improvement priorities?",
    ]
    form = {
        "rating": "5",
        "working_well": WELL,
        "evidence": "61 partners attended",
        "priorities": "",
    }
    answer = await say(core, BOB, "checkin answer 1 1", form=form)
    assert "Saved question 1." in answer and "QUESTION 2 OF 4\n3. How effective" in answer
    assert await replies_to(core, BOB, "checkin answer 1 1", form=form) == ()  # double click
    assert await count(store, Response) == 1
    # Typed: a rating by label, then each prompt in turn.
    assert "What is working well?" in await say(core, BOB, "good")
    assert "How do you know?" in await say(core, BOB, "Local partners work well")
    assert "What are your improvement priorities?" in await say(core, BOB, "-")
    answer = await say(core, BOB, "Invite more partners into the partnership")
    assert "Saved question 3." in answer and "QUESTION 3 OF 4\n4. How clearly" in answer
    async with store.unit() as uow:
        third = await uow.checkins.named_response(1, 2, 3)
        assert (third.rating, third.texts) == (
            4,
            {
                "working_well": "Local partners work well",
                "priorities": "Invite more partners into the partnership",
            },
        )
    # A command while a rating is awaited is still a command.
    assert "YOUR PROFILE" in await say(core, BOB, "me")
    assert "OK. Your answers so far are saved" in await say(core, BOB, "later")
    assert "QUESTION 3 OF 4\n4. How clearly" in await say(core, BOB, "checkin")  # resumes
    assert "is not on the scale" in await say(core, BOB, "9")
    assert "Skipped question 4." in await say(core, BOB, "checkin skip 1 4", form={})
    done = await say(core, BOB, "checkin answer 1 7", form={"rating": "3"})
    assert "ALL 4 QUESTIONS DONE" in done and "[Change 1: checkin edit 1 1]" in done
    edit = await replies_to(core, BOB, "checkin edit 1 1")
    choice = next(b for b in edit[0].view.blocks if isinstance(b, ChoiceInput))
    assert choice.value == "5"
    await core.run_jobs(datetime(2026, 3, 24, 10, 0, tzinfo=UTC))  # the 7-day nudges
    assert sorted(await nudges(store)) == [
        "checkin:1:member:1:nudge:7d",
        "checkin:1:member:3:nudge:7d",
    ]


async def saved_answer(store, member_id: int, question: int) -> tuple | None:
    async with store.unit() as uow:
        row = await uow.checkins.named_response(1, member_id, question)
        return None if row is None else (row.rating, row.texts, row.skipped)


async def test_skip_on_a_reflection_prompt_keeps_the_rating_and_what_was_written(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3,4 closes=2026-03-31")
    await verify_dialog(
        core,
        [
            (BOB, "checkin", "QUESTION 1 OF 3"),
            (BOB, "5", "What is working well?"),
            (BOB, WELL, "How do you know?"),
            # "skip" on a prompt skips the rest of this question, not what was given of it.
            (BOB, "skip", "Saved question 1; skipped the rest of it."),
        ],
    )
    assert await saved_answer(store, 2, 1) == (5, {"working_well": WELL}, False)
    await verify_dialog(
        core,
        [
            (BOB, "good", "What is working well?"),
            (BOB, "skip", "Saved question 3; skipped the rest of it."),
            # On the rating, with nothing given yet, "skip" skips the whole question.
            (BOB, "skip", "Skipped question 4."),
        ],
    )
    assert await saved_answer(store, 2, 3) == (4, {}, False)
    assert await saved_answer(store, 2, 4) == (None, {}, True)


async def test_skip_keeps_an_earlier_answer_and_what_is_on_the_card(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3 closes=2026-03-31")
    await say(core, BOB, "checkin answer 1 1", form={"rating": "5", "working_well": WELL})
    # Changing question 1, then skipping it on the rating, leaves the answer as it was.
    await say(core, BOB, "checkin edit 1 1")
    assert "Kept your answer to question 1." in await say(core, BOB, "skip")
    assert await saved_answer(store, 2, 1) == (5, {"working_well": WELL}, False)
    assert "Kept your answer to question 1." in await say(
        core, BOB, "checkin skip 1 1", form={"rating": "", "working_well": ""}
    )
    assert await saved_answer(store, 2, 1) == (5, {"working_well": WELL}, False)
    # A rating picked on the card and then Skip pressed: the rating is kept, once.
    form = {"rating": "2", "working_well": "", "evidence": "", "priorities": ""}
    assert "Saved question 3; skipped the rest of it." in await say(
        core, BOB, "checkin skip 1 3", form=form
    )
    assert await replies_to(core, BOB, "checkin skip 1 3", form=form) == ()  # double click
    assert await saved_answer(store, 2, 3) == (2, {}, False)


async def test_an_answer_reads_the_cycle_its_place_and_its_saved_answers_in_one_query(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3,4 areas=Marr closes=2026-03-31")
    await say(core, BOB, "checkin answer 1 1", form={"rating": "5", "working_well": WELL})
    await say(core, BOB, "checkin answer 1 3", form={"rating": "2"})
    async with store.unit() as uow:
        cycle, participant, saved = await uow.checkins.answering(1, 2)
        assert (cycle.id, participant.member_id) == (1, 2)
        assert {number: (r.rating, r.texts) for number, r in saved.items()} == {
            1: (5, {"working_well": WELL}),
            3: (2, {}),
        }
        cycle, participant, saved = await uow.checkins.answering(1, 1)  # Ann, nothing saved
        assert (cycle.id, participant.member_id, saved) == (1, 1, {})
        cycle, participant, saved = await uow.checkins.answering(1, 3)  # Cat, not invited
        assert (cycle.id, participant, saved) == (1, None, {})
        assert await uow.checkins.answering(2, 2) == (None, None, {})
    # What the answer buttons do with it: the change saved, the double click ignored.
    assert "Saved question 3." in await say(core, BOB, "checkin answer 1 3", form={"rating": "4"})
    assert await replies_to(core, BOB, "checkin answer 1 3", form={"rating": "4"}) == ()
    assert await saved_answer(store, 2, 3) == (4, {}, False)
    assert await saved_answer(store, 2, 1) == (5, {"working_well": WELL}, False)


async def test_answers_are_private_and_checked(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3 closes=2026-03-31")
    answer = await say(core, CAT, "checkin", where=channel())
    assert "Check-ins are answered privately: I've sent you a direct message." in answer
    assert any(":dm:" in key for key in await outbox(store))
    refused = await say(core, CAT, "checkin answer 1 1", form={"rating": "6"}, where=channel())
    assert "answered privately" in refused or "given privately" in refused
    assert "Question 2 is not part" in await say(
        core, CAT, "checkin answer 1 2", form={"rating": "6"}
    )
    assert "too long" in await say(
        core, CAT, "checkin answer 1 1", form={"rating": "6", "evidence": "x" * 3001}
    )
    assert "Pick a rating or write something first" in await say(
        core, CAT, "checkin answer 1 1", form={}
    )
    assert await count(store, Response) == 0


async def test_coordinators_follow_up_and_close(core, store, clock):
    await say(core, ANN, "checkin start qi-3.2 questions=1 closes=2026-03-31")
    await say(core, BOB, "checkin answer 1 1", form={"rating": "4"})
    status = await say(core, ANN, "checkin status")
    assert "1 of 3 members done (33%)" in status
    assert "Marr        1 of 2 done (50%), 0 part-way" in status
    assert "Formartine: Cat" in status and "Marr: Ann" in status
    assert "Sorry, `checkin status` is for coordinators." in await say(core, BOB, "checkin status")
    assert "Reminding 2 members who haven't finished." in await say(core, ANN, "checkin remind")
    reminded = [k for k in await outbox(store) if ":remind:" in k]
    assert sorted(reminded) == [
        "checkin:1:member:1:remind:20260302T0900",
        "checkin:1:member:3:remind:20260302T0900",
    ]
    assert "is closed: 1 of 3 members finished" in await say(core, ANN, "checkin close")
    assert {r.status for k, r in (await outbox(store)).items() if ":remind:" in k} == {"cancelled"}
    assert "has closed" in await say(core, BOB, "checkin answer 1 1", form={"rating": "6"})


async def nudges(store) -> dict[str, OutboxMessage]:
    return {key: row for key, row in (await outbox(store)).items() if ":nudge:" in key}


async def test_nudges_fall_due_on_weekdays_at_ten_in_each_members_zone(core, store, clock):
    await say(core, CAT, "me tz Australia/Melbourne")
    # Closes Sunday 5 April, 23:59 in London (BST) = Monday 6 April 08:59 in Melbourne (AEST).
    await say(core, ANN, "checkin start qi-3.2 questions=1,3,4,7 closes=2026-04-05")
    for number in (1, 3, 4, 7):
        await say(core, ANN, f"checkin answer 1 {number}", form={"rating": "5"})
    await say(core, BOB, "checkin answer 1 1", form={"rating": "4"})
    await say(core, BOB, "checkin answer 1 3", form={"rating": "4"})
    await say(core, CAT, "checkin answer 1 1", form={"rating": "6"})
    await core.run_jobs(clock.now)
    assert await nudges(store) == {}

    # London, 7 days before: Sunday 29 March, so Friday 27th at 10:00 GMT.
    await core.run_jobs(datetime(2026, 3, 27, 9, 59, tzinfo=UTC))
    assert await nudges(store) == {}
    await core.run_jobs(datetime(2026, 3, 27, 10, 0, tzinfo=UTC))
    await core.run_jobs(datetime(2026, 3, 27, 10, 1, tzinfo=UTC))  # the next minute: not twice
    queued = await nudges(store)
    assert list(queued) == ["checkin:1:member:2:nudge:7d"]  # Ann has finished: not nudged
    bob = queued["checkin:1:member:2:nudge:7d"]
    assert bob.member_id == 2 and bob.due_at == datetime(2026, 3, 27, 10, 0, tzinfo=UTC)
    assert bob.view["summary"] == (
        "A reminder: the QI 3.2 Partnership working check-in closes Sun 05 Apr 2026 23:59; "
        "2 of 4 questions answered."
    )

    # Melbourne, 7 days before: Monday 30 March, 10:00 AEDT = 23:00 UTC the day before.
    await core.run_jobs(datetime(2026, 3, 29, 22, 59, tzinfo=UTC))
    assert "checkin:1:member:3:nudge:7d" not in await nudges(store)
    await core.run_jobs(datetime(2026, 3, 29, 23, 0, tzinfo=UTC))
    cat = (await nudges(store))["checkin:1:member:3:nudge:7d"]
    assert cat.member_id == 3 and cat.due_at == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)
    assert cat.view["summary"] == (
        "A reminder: the QI 3.2 Partnership working check-in closes Mon 06 Apr 2026 08:59; "
        "1 of 4 questions answered."
    )

    # 2 days before is a Saturday in Melbourne (4 April): Friday 3rd at 10:00 AEDT; London's
    # is Friday 3rd at 10:00 BST. Bob has answered one more by then, and it says so.
    clock.now = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    await say(core, BOB, "checkin answer 1 4", form={"rating": "3"})
    await core.run_jobs(datetime(2026, 4, 2, 23, 0, tzinfo=UTC))
    assert "checkin:1:member:3:nudge:2d" in await nudges(store)
    assert "checkin:1:member:2:nudge:2d" not in await nudges(store)
    await core.run_jobs(datetime(2026, 4, 3, 9, 0, tzinfo=UTC))
    queued = await nudges(store)
    assert queued["checkin:1:member:2:nudge:2d"].due_at == datetime(2026, 4, 3, 9, 0, tzinfo=UTC)
    assert "3 of 4 questions answered" in queued["checkin:1:member:2:nudge:2d"].view["summary"]
    assert sorted(queued) == [
        "checkin:1:member:2:nudge:2d",
        "checkin:1:member:2:nudge:7d",
        "checkin:1:member:3:nudge:2d",
        "checkin:1:member:3:nudge:7d",
    ]


async def test_a_nudge_missed_by_more_than_half_a_day_is_not_sent_late(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1 closes=2026-04-05")
    # The bot was down from before Friday 27th 10:00 until the evening after.
    await core.run_jobs(datetime(2026, 3, 27, 22, 1, tzinfo=UTC))
    assert await nudges(store) == {}


async def test_a_cycle_closes_itself_at_its_closing_time(core, store, clock):
    await say(core, ANN, "checkin start qi-3.2 questions=1 closes=2026-03-31")
    await core.run_jobs(datetime(2026, 3, 31, 22, 58, tzinfo=UTC))  # 23:58 BST: still open
    async with store.unit() as uow:
        assert (await uow.checkins.cycle(1)).status == "open"
    await core.run_jobs(datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    async with store.unit() as uow:
        assert (await uow.checkins.cycle(1)).status == "closed"
    notice = (await outbox(store))["checkin:1:closed"]
    assert notice.member_id == 1 and "is closed: 0 of 3 members finished" in notice.view["summary"]


async def test_anonymous_answers_are_not_linked_to_anyone(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3 closes=2026-03-31 anonymous")
    assert (
        "anonymous" in (await outbox(store))["checkin:1:member:2:invite"].view["blocks"][3]["text"]
    )
    form = {"rating": "5", "working_well": WELL}
    assert "Saved question 1." in await say(core, BOB, "checkin answer 1 1", form=form)
    await say(core, BOB, "checkin answer 1 1", form=form)  # a double click saves once
    assert await count(store, AnonymousResponse) == 1
    assert await count(store, Response) == 0
    assert "can't be changed" in await say(core, BOB, "checkin edit 1 1")
    status = await say(core, ANN, "checkin status")
    assert "who is outstanding is not shown" in status and "Marr: Ann" not in status


async def rows_naming_a_member(store) -> list[str]:
    """Every stored row, in every table, that refers to a member, as text."""
    found = []
    async with store.unit() as uow:
        for table in Base.metadata.sorted_tables:
            links = [
                column.name
                for column in table.columns
                if any(fk.column.table.name == "members" for fk in column.foreign_keys)
            ] or (["id"] if table.name == "members" else [])
            if not links:
                continue
            for row in await uow.session.execute(select(table)):
                if any(row._mapping[name] is not None for name in links):
                    found.append(f"{table.name}: {tuple(row)}")
    return found


async def test_typed_anonymous_answers_are_saved_piece_by_piece_and_linked_to_nobody(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1,3 closes=2026-03-31 anonymous")
    assert "QUESTION 1 OF 2" in await say(core, BOB, "checkin")
    evidence = "Partners say the monthly forum keeps them in touch"
    pieces = [
        ("very good", "What is working well?", {"rating": 5}),
        (WELL, "How do you know?", {"texts": {"working_well": WELL}}),
        (evidence, "What are your improvement priorities?", {"texts": {"evidence": evidence}}),
        ("-", "Saved question 1.", None),
    ]
    saved: list[dict] = []
    for text, reply, piece in pieces:
        assert reply in await say(core, BOB, text)
        if piece is not None:
            saved.append({"rating": piece.get("rating"), "texts": piece.get("texts", {})})
        # Each piece is its own anonymous row the moment it is given...
        async with store.unit() as uow:
            rows = (await uow.session.scalars(select(AnonymousResponse))).all()
            assert sorted(
                ({"rating": r.rating, "texts": r.texts} for r in rows), key=str
            ) == sorted(saved, key=str)
            assert {(r.question, r.area_id) for r in rows} == {(1, 1)}
            # ...and where Bob is in the flow says nothing of what he said.
            state = await uow.dialog_states.of_member(2)
            assert state.data == {"cycle": 1, "question": state.data["question"]}
        for row in await rows_naming_a_member(store):
            assert WELL not in row and evidence not in row, row
    assert "QUESTION 2 OF 2" in await say(core, BOB, "checkin")  # resumes at the next
    async with store.unit() as uow:
        participant = await uow.checkins.participant(1, 2)
        assert (participant.answered, participant.status) == ([1], "started")
    # The rating may not be given twice: nothing says which rows were his.
    assert "CAN'T BE CHANGED" in (await say(core, BOB, "checkin edit 1 1")).upper()
    # "skip" on a prompt of question 3 keeps its rating, already saved on its own.
    assert "What is working well?" in await say(core, BOB, "4")
    assert "Saved question 3; skipped the rest of it." in await say(core, BOB, "skip")
    async with store.unit() as uow:
        rows = (await uow.session.scalars(select(AnonymousResponse))).all()
        assert [(r.rating, r.skipped) for r in rows if r.question == 3] == [(4, False)]
        participant = await uow.checkins.participant(1, 2)
        assert (sorted(participant.answered), participant.status) == ([1, 3], "done")
    assert await count(store, Response) == 0


def test_no_join_path_from_an_anonymous_answer_to_a_person():
    table = AnonymousResponse.__table__
    referenced = {fk.column.table.name for fk in table.foreign_keys}
    assert referenced == {"cycles", "areas"}
    assert not {"member_id", "participant_id", "identity_id", "created_at", "updated_at"} & set(
        table.columns.keys()
    )
    assert str(table.c.id.type).startswith("VARCHAR")  # random, not a sequence
    assert str(table.c.answered_on.type) == "DATE"  # the day only


async def test_checkin_frameworks_lists_them(core):
    answer = await say(core, BOB, "checkin frameworks")
    assert answer.index("qi-3.2 - How good is our community learning") < answer.index(
        "family-school"
    )
    assert "(12 questions, 6-point scale)" in answer
    assert "checkin later" not in await say(core, BOB, "help checkin")  # hidden commands


async def test_a_member_who_joins_an_area_later_can_still_answer(core, store, clock):
    await say(core, ANN, "checkin start qi-3.2 questions=1 closes=2026-03-31")
    dee = person("Dee")
    clock.now += timedelta(days=1)
    await say(core, dee, "me area Formartine")
    assert "QUESTION 1 OF 1" in await say(core, dee, "checkin")


async def test_the_action_plan(core, store, clock):
    await say(core, ANN, "checkin start qi-3.2 questions=1,7 closes=2026-03-31")
    answer = await say(
        core,
        ANN,
        'action add "Develop a common evaluation framework" '
        "owner=<@UBOB> due=2026-04-20 area=Marr question=7",
        mentions=[BOB],
    )
    assert "Action 1 added for Marr owned by Bob due 20 Apr 2026." in answer
    assert "Action 2 added for Marr owned by Ann." in await say(
        core, ANN, 'action add "Share the evaluation report with all LLCP leads"'
    )
    assert "The due date 01 Jan 2026 is in the past." in await say(
        core, ANN, 'action add "x" due=2026-01-01'
    )
    assert "There's no area called Mars." in await say(core, ANN, 'action add "x" area=Mars')
    reminders = {k: r for k, r in (await outbox(store)).items() if k.startswith("action:1")}
    assert sorted(r.due_at for r in reminders.values()) == [
        datetime(2026, 4, 17, 8, 30, tzinfo=UTC),
        datetime(2026, 4, 20, 8, 30, tzinfo=UTC),
    ]
    assert reminders["action:1:remind:3d"].member_id == 2
    listing = await say(core, CAT, "actions area=Marr")
    assert "ACTION PLAN FOR MARR: 0 OF 2 DONE" in listing
    assert (
        "1. Develop a common evaluation framework - Marr - Bob - due 20 Apr 2026 - open" in listing
    )
    assert "Only the action's owner or a coordinator" in await say(core, CAT, "action done 1")
    assert "Action 1 is done" in await say(core, BOB, "action done 1")
    assert {r.status for k, r in (await outbox(store)).items() if k.startswith("action:1")} == {
        "cancelled"
    }
    assert "1 OF 2 DONE" in await say(core, ANN, "actions")
    assert "There's no action 9." in await say(core, ANN, "action done 9")


async def pending_reminders(store, item_id: int) -> list[tuple[int, datetime]]:
    return sorted(
        (row.member_id, row.due_at)
        for key, row in (await outbox(store)).items()
        if key.startswith(f"action:{item_id}:remind") and row.status == "pending"
    )


async def test_an_action_from_the_reports_button_is_given_an_owner_and_a_date(core, store):
    await say(core, ANN, "checkin start qi-3.2 questions=1 closes=2026-03-31")
    form = {"rating": "4", "priorities": "Invite more partners into the partnership"}
    await say(core, BOB, "checkin answer 1 1", form=form)
    (listing,) = await replies_to(core, ANN, "checkin priorities")
    (button,) = [
        b for block in listing.view.blocks if isinstance(block, Actions) for b in block.buttons
    ]
    assert "Action 1 added for Marr owned by Ann." in await say(core, ANN, button.command, form={})
    assert await pending_reminders(store, 1) == []  # no date yet

    refused = await say(core, ANN, "action edit 1")
    assert "Sorry, say what to change: a new owner=, a new due=, or both." in refused
    assert "Usage: action edit <id> [owner=<@member>] [due=<YYYY-MM-DD>]" in refused
    assert "is not a date" in await say(core, ANN, "action edit 1 due=Friday")
    assert "The due date 01 Jan 2026 is in the past." in await say(
        core, ANN, "action edit 1 due=2026-01-01"
    )
    assert "There's no action 9." in await say(core, ANN, "action edit 9 due=2026-04-20")
    # Neither owner nor coordinator.
    assert "Only the action's owner or a coordinator can change it." in await say(
        core, CAT, "action edit 1 due=2026-04-20"
    )
    assert await pending_reminders(store, 1) == []

    answer = await say(core, ANN, "action edit 1 owner=<@UBOB> due=2026-04-20", mentions=[BOB])
    assert (
        "Action 1 is now owned by Bob and due 20 Apr 2026: Invite more partners into the "
        "partnership" in answer
    )
    # Bob's reminders, 3 days before and on the day, at 09:30 in London (BST).
    assert await pending_reminders(store, 1) == [
        (2, datetime(2026, 4, 17, 8, 30, tzinfo=UTC)),
        (2, datetime(2026, 4, 20, 8, 30, tzinfo=UTC)),
    ]
    told = [r for k, r in (await outbox(store)).items() if k.startswith("action:1:owner:2")]
    assert [r.view["summary"] for r in told] == [
        "Ann gave you action 1: Invite more partners into the partnership (due 20 Apr 2026)"
    ]

    # Now the owner, Bob moves it, in his own zone; the old reminders are cancelled.
    await say(core, BOB, "me tz Australia/Melbourne")
    assert "Action 1 is now due 04 May 2026" in await say(core, BOB, "action edit 1 due=2026-05-04")
    assert await pending_reminders(store, 1) == [
        (2, datetime(2026, 4, 30, 23, 30, tzinfo=UTC)),  # 09:30 AEST on Friday 1 May
        (2, datetime(2026, 5, 3, 23, 30, tzinfo=UTC)),
    ]
    assert "nothing changed" in await say(core, BOB, "action edit 1 due=2026-05-04")
    assert "1. Invite more partners into the partnership - Marr - Bob - due 04 May 2026" in (
        await say(core, CAT, "actions")
    )
    assert "Action 1 is done" in await say(core, BOB, "action done 1")
    assert "is done already" in await say(core, ANN, "action edit 1 due=2026-05-11")
    assert await pending_reminders(store, 1) == []
