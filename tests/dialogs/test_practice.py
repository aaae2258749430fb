"""The practice library as members live it, on a fixed clock, on both databases: sharing by form
and on one line, a message saved as a draft, editing and withdrawing, searching, browsing by
tag, refusals, and the weekly digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from dialogs.views import Actions, ChoiceInput, Heading, TextInput, view_from_dict
from storage.models import Meeting, OutboxMessage, PracticeRecord
from tests.dialogs.conversation import channel, person, replies_to, say

ANN, BOB, CAT = person("Ann"), person("Bob"), person("Cat")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
COOKING = {
    "title": "Family cooking nights",
    "text": "Parents who never came to a class came to cook with their children.",
    "kind": "story",
    "tags": "engagement, #Parents",
    "area": "Marr",
    "links": "https://example.org/cooking-nights",
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


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
    await say(bot, ANN, "me org Marr Learning Centre")
    await say(bot, BOB, "me area Marr")
    await say(bot, CAT, "me area Formartine")
    return bot


async def records(store) -> list[PracticeRecord]:
    async with store.unit() as uow:
        return list(await uow.session.scalars(select(PracticeRecord).order_by(PracticeRecord.id)))


async def test_practice_share_opens_a_form_with_every_field(core):
    [reply] = await replies_to(core, ANN, "practice share")

    assert reply.is_form and reply.private
    inputs = {b.name: b for b in reply.view.blocks if isinstance(b, TextInput | ChoiceInput)}
    assert list(inputs) == ["title", "text", "kind", "tags", "area", "links", "meeting"]
    # No forum has met yet: only "not at a forum" to pick.
    assert inputs["meeting"].options == (("none", "Not shared at a forum"),)
    assert inputs["meeting"].value == "none"
    assert [value for value, _ in inputs["kind"].options] == [
        "idea",
        "story",
        "resource",
        "document",
    ]
    assert inputs["area"].value == "Marr"  # the member's own area to start with
    [actions] = [b for b in reply.view.blocks if isinstance(b, Actions)]
    assert [(b.label, b.command) for b in actions.buttons] == [("Share", "practice save")]


async def test_the_form_saves_a_record_with_author_organisation_and_area(core, store):
    answer = await say(core, ANN, "practice save", form=COOKING)

    assert "Shared practice #1: Family cooking nights." in answer
    [record] = await records(store)
    async with store.unit() as uow:
        author = await uow.members.get(record.author_id)
        organisation = await uow.organisations.get(record.organisation_id)
        area = await uow.areas.get(record.area_id)
    assert (record.title, record.kind, record.status) == (
        "Family cooking nights",
        "story",
        "published",
    )
    assert record.tag_text == "engagement parents"
    assert record.links == ["https://example.org/cooking-nights"]
    assert (author.display_name, organisation.name, area.name) == (
        "Ann",
        "Marr Learning Centre",
        "Marr",
    )
    assert record.published_at == START and record.meeting_id is None

    shown = await say(core, BOB, "practice 1")
    assert "#1 FAMILY COOKING NIGHTS" in shown
    assert "Parents who never came to a class" in shown
    assert "Ann, Marr Learning Centre" in shown
    assert "engagement, parents" in shown
    assert "[Link 1: https://example.org/cooking-nights]" in shown
    assert "practice edit 1" not in shown  # only the author may edit


async def test_one_line_share_with_hashtags(core, store):
    answer = await say(
        core,
        BOB,
        'practice share "Interpreters on enrolment day" Booking interpreters removed language '
        "barriers for refugee families #language #refugees kind=resource",
    )

    assert "Shared practice #1: Interpreters on enrolment day." in answer
    [record] = await records(store)
    assert record.body == ("Booking interpreters removed language barriers for refugee families")
    assert (record.kind, record.tag_text) == ("resource", "language refugees")
    async with store.unit() as uow:
        assert (await uow.areas.get(record.area_id)).name == "Marr"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("practice share Cooking nights were great", "Put the title in quotes"),
        ('practice share "" Parents came #engagement', "title is empty"),
        ('practice share "   " Parents came', "title is empty"),
        ('practice share "Cooking" Parents came #cookery', "There's no tag `cookery`"),
        ('practice share "Cooking" Parents came #engagment', "Did you mean `engagement`?"),
        ('practice share "Cooking" #engagement', "Write the story or idea, or add a link"),
        ('practice share "Cooking" Parents came link=javascript:alert(1)', "is not a web link"),
        ('practice share "Cooking" Parents came area=Nowhere', "There's no area called Nowhere"),
        ('practice share "Cooking" Parents came meeting=99', "There's no meeting 99"),
        ('practice share "Cooking" Tell <!channel> now', "would notify everyone"),
        ('practice share "Cooking" Tell @here now', "would notify everyone"),
        (
            'practice share "Cooking" <@U1> <@U2> <@U3> <@U4> came',
            "mentions 4 people; the most is 3",
        ),
        ('practice share "' + "x" * 151 + '" text', "the most is 150"),
    ],
)
async def test_bad_records_are_refused_with_the_reason_and_nothing_is_saved(
    core, store, text, reason
):
    answer = await say(core, ANN, text)

    assert reason in answer
    assert await records(store) == []


async def test_over_long_text_in_the_form_comes_back_in_the_form_with_the_reason(core, store):
    typed = {**COOKING, "text": "y" * 3001}

    [reply] = await replies_to(core, ANN, "practice save", form=typed)

    assert reply.is_form
    assert "The text is 3001 characters long; the most is 3000" in reply.view.summary
    inputs = {b.name: b for b in reply.view.blocks if isinstance(b, TextInput)}
    assert inputs["title"].value == "Family cooking nights"  # nothing typed is lost
    assert await records(store) == []


async def test_markup_is_kept_exactly_as_typed(core, store):
    title = "<b>Bold</b> *stars* [link](https://evil.example) <!channel|x>"
    typed = {**COOKING, "title": title.replace("<!channel|x>", "&lt;tag&gt;")}
    await say(core, ANN, "practice save", form=typed)

    [record] = await records(store)
    assert record.title == "<b>Bold</b> *stars* [link](https://evil.example) &lt;tag&gt;"
    [reply] = await replies_to(core, ANN, "practice 1")
    assert reply.view.blocks[0] == Heading(f"#1 {record.title}")


async def test_a_message_becomes_a_draft_then_a_record(core, store):
    message = {
        "text": "We ran a drop-in at the school gate.\nTwelve parents signed up for English.",
        "source_author": "Raj Patel",
        "source_url": "https://partners.slack.com/archives/C1/p1700000000000100",
        "source_at": "2026-03-01T16:30:00+00:00",
    }

    [reply] = await replies_to(core, BOB, "practice draft", form=message, where=channel())

    assert reply.is_form and reply.private
    [draft] = await records(store)
    assert draft.status == "draft"
    assert (draft.title, draft.source_author) == (
        "We ran a drop-in at the school gate.",
        "Raj Patel",
    )
    assert draft.source_url == message["source_url"]
    assert draft.source_at == datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    assert "From Raj Patel's message of 1 Mar 2026, 16:30." in reply.view.summary or any(
        "From Raj Patel's message" in getattr(b, "text", "") for b in reply.view.blocks
    )
    [actions] = [b for b in reply.view.blocks if isinstance(b, Actions)]
    assert actions.buttons[0].command == f"practice save {draft.id}"
    assert "no practice record" in await say(core, CAT, f"practice {draft.id}")  # a draft

    filled = {"title": "School gate drop-in", "text": message["text"], "tags": "parents"}
    answer = await say(core, BOB, f"practice save {draft.id}", form=filled)

    assert f"Shared practice #{draft.id}: School gate drop-in." in answer
    [record] = await records(store)
    assert (record.status, record.source_author) == ("published", "Raj Patel")
    shown = await say(core, CAT, f"practice {record.id}")
    assert "From a message by  Raj Patel, 1 Mar 2026, 16:30" in shown
    assert "[Original message: https://partners.slack.com/archives/C1/p1700000000000100]" in shown


async def test_authors_edit_and_withdraw_their_own_records_only(core, store, clock):
    await say(core, BOB, "practice save", form=COOKING)

    assert "Only the member who shared practice #1 can change it" in await say(
        core, CAT, "practice edit 1"
    )
    assert "Only the member who shared practice #1 can change it" in await say(
        core, CAT, "practice save 1", form={**COOKING, "title": "Mine now"}
    )
    [form] = await replies_to(core, BOB, "practice edit 1")
    assert form.is_form and form.view.blocks[0] == Heading("Edit practice #1")

    clock.now += timedelta(hours=1)
    answer = await say(core, BOB, "practice save 1", form={**COOKING, "title": "Cooking nights"})
    assert "Saved practice #1: Cooking nights." in answer
    [record] = await records(store)
    assert (record.title, record.published_at, record.updated_at) == (
        "Cooking nights",
        START,
        START + timedelta(hours=1),
    )

    assert "Only the member who shared practice #1 can withdraw it" in await say(
        core, CAT, "practice withdraw 1"
    )
    assert "Withdrew practice #1" in await say(core, BOB, "practice withdraw 1")
    assert "Nothing in the practice library matches cooking" in await say(
        core, CAT, "practice search cooking"
    )
    assert "no practice record #1" in await say(core, CAT, "practice 1")


async def test_search_shows_title_snippet_author_area_and_an_open_button(core):
    await say(core, ANN, "practice save", form=COOKING)
    await say(
        core,
        CAT,
        'practice share "Trauma-informed welcome" Staff trained in trauma awareness welcome '
        "parents differently #trauma #parents",
    )

    [reply] = await replies_to(core, BOB, "practice search cooking parent")

    text = reply.view
    assert text.blocks[0] == Heading("Practice matching cooking parent")
    paragraphs = [getattr(b, "text", "") for b in text.blocks]
    assert paragraphs[1] == "#1 Family cooking nights"
    assert "«Parents» who never came to a class came to «cook»" in paragraphs[2]
    assert paragraphs[3] == "Ann · Marr · story"
    assert text.blocks[4] == Actions((text.blocks[4].buttons[0],))
    assert text.blocks[4].buttons[0].command == "practice 1"

    assert "#2 Trauma-informed welcome" in await say(
        core, BOB, "practice search parents area=Formartine"
    )
    assert "#1 Family cooking" not in await say(core, BOB, "practice search parents tag=trauma")
    assert "There's no tag `nonsense`" in await say(
        core, BOB, "practice search parents tag=nonsense"
    )
    assert "has no words to search for" in await say(core, BOB, "practice search the and of")


async def test_recent_tags_and_browsing_by_tag(core):
    assert "The practice library is empty" in await say(core, BOB, "practice recent")
    await say(core, ANN, "practice save", form=COOKING)
    await say(core, CAT, 'practice share "Peer mentors" Lived experience helps #drug-alcohol')

    recent = await say(core, BOB, "practice recent")
    assert recent.index("#2 Peer mentors") < recent.index("#1 Family cooking nights")
    tags = await say(core, BOB, "practice tags")
    assert "engagement (1)" in tags and "drug-alcohol (1)" in tags
    assert "[drug-alcohol: practice tag drug-alcohol]" in tags
    tagged = await say(core, BOB, "practice tag #Drug-Alcohol")
    assert "#2 Peer mentors" in tagged and "Family cooking" not in tagged
    assert "Did you mean `trauma`?" in await say(core, BOB, "practice tag traumma")


async def test_coordinators_add_tags(core):
    assert "There's no tag `cookery`" in await say(
        core, BOB, 'practice share "Cooking" Parents came #cookery'
    )
    assert "is for coordinators" in await say(core, BOB, "tag add cookery")
    assert "Members can now tag practice with `cookery`" in await say(core, ANN, "tag add Cookery")
    assert "already a practice tag" in await say(core, ANN, "tag add cookery")
    assert "Shared practice #1" in await say(
        core, BOB, 'practice share "Cooking" Parents came #cookery'
    )


async def test_a_record_shared_during_a_forum_is_linked_to_it(core, store, clock):
    await say(core, ANN, 'meeting schedule "Marr forum" 2026-03-10 10:00 area=Marr')
    async with store.unit() as uow:
        meeting = await uow.session.scalar(select(Meeting))
    clock.now = meeting.starts_at + timedelta(minutes=30)

    await say(core, BOB, 'practice share "Forum idea" Shared at the forum #partnership')

    [record] = await records(store)
    assert record.meeting_id == meeting.id
    assert "Marr forum, 10 Mar 2026, 10:00" in await say(core, BOB, "practice 1")


async def forum_on_10_march(core, store, clock) -> Meeting:
    """Marr's forum, 10 Mar 2026 10:00-11:30 (GMT), and the clock at 10:30 during it."""
    await say(core, ANN, 'meeting schedule "Marr forum" 2026-03-10 10:00 area=Marr')
    async with store.unit() as uow:
        meeting = await uow.session.scalar(select(Meeting))
    clock.now = meeting.starts_at + timedelta(minutes=30)
    return meeting


def form_inputs(reply) -> dict:
    return {b.name: b for b in reply.view.blocks if isinstance(b, TextInput | ChoiceInput)}


async def test_the_form_asks_which_forum_it_was_shared_at(core, store, clock):
    meeting = await forum_on_10_march(core, store, clock)
    [reply] = await replies_to(core, BOB, "practice share")
    field = form_inputs(reply)["meeting"]
    assert field.label == "Shared at a forum meeting"
    assert field.options == (
        ("none", "Not shared at a forum"),
        (str(meeting.id), "Marr forum, 10 Mar 2026, 10:00"),
    )
    assert field.value == str(meeting.id)  # on now: the one it is being shared at

    # Bob says it wasn't shared at the forum after all: none, even though the forum is on.
    answer = await say(core, BOB, "practice save", form={**COOKING, "meeting": "none"})
    assert "Shared practice #1" in answer
    # Cat picks the forum, the next day.
    clock.now += timedelta(days=1)
    [again] = await replies_to(core, CAT, "practice share")
    assert form_inputs(again)["meeting"].value == "none"  # nothing on now
    cooking = {**COOKING, "area": "Formartine", "meeting": str(meeting.id)}
    assert "Shared practice #2" in await say(core, CAT, "practice save", form=cooking)
    assert [r.meeting_id for r in await records(store)] == [None, meeting.id]
    # A meeting that doesn't exist, or hasn't happened, puts the form back with the reason.
    await say(core, ANN, 'meeting schedule "Next forum" 2026-06-10 10:00 area=Marr')
    for chosen, reason in [("99", "There's no meeting 99"), ("2", "hasn't happened yet")]:
        [back] = await replies_to(core, CAT, "practice save", form={**cooking, "meeting": chosen})
        assert back.is_form and reason in back.view.summary
    assert len(await records(store)) == 2


async def test_a_message_said_during_a_forum_is_a_draft_of_that_forum(core, store, clock):
    meeting = await forum_on_10_march(core, store, clock)
    clock.now = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)  # saved two days later
    message = {
        "text": "At the forum Raj said the school gate drop-in doubled sign-ups.",
        "source_author": "Raj Patel",
        "source_at": "2026-03-10T10:40:00+00:00",  # during the forum
    }
    [reply] = await replies_to(core, BOB, "practice draft", form=message, where=channel())
    [draft] = await records(store)
    assert draft.meeting_id == meeting.id
    assert form_inputs(reply)["meeting"].value == str(meeting.id)
    filled = {"title": "Drop-in", "text": message["text"], "meeting": str(meeting.id)}
    assert "Shared practice #1" in await say(core, BOB, "practice save 1", form=filled)
    [record] = await records(store)
    assert (record.status, record.meeting_id) == ("published", meeting.id)

    # A message from before the forum is not of it.
    message["source_at"] = "2026-03-09T10:40:00+00:00"
    await replies_to(core, BOB, "practice draft", form=message, where=channel())
    assert (await records(store))[1].meeting_id is None


async def test_practice_edit_sets_the_forum_it_was_shared_at(core, store, clock):
    await say(core, BOB, 'practice share "Forum idea" Shared before the forum #partnership')
    meeting = await forum_on_10_march(core, store, clock)
    assert (await records(store))[0].meeting_id is None
    assert "Practice #1 (Forum idea) was shared at Marr forum, 10 Mar 2026, 10:00." in await say(
        core, BOB, f"practice edit 1 meeting={meeting.id}"
    )
    [record] = await records(store)
    assert record.meeting_id == meeting.id
    assert "Marr forum, 10 Mar 2026, 10:00" in await say(core, CAT, "practice 1")
    assert "There's no meeting 99" in await say(core, BOB, "practice edit 1 meeting=99")
    assert "Only the member who shared practice #1" in await say(
        core, CAT, f"practice edit 1 meeting={meeting.id}"
    )
    assert "meeting id" in await say(core, BOB, "practice edit 1 meeting=soon")
    # Without meeting=, the form, with the forum chosen.
    [form] = await replies_to(core, BOB, "practice edit 1")
    assert form_inputs(form)["meeting"].value == str(meeting.id)


async def digests(store) -> dict[str, OutboxMessage]:
    async with store.unit() as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "practice.digest")
        )
        return {row.key: row for row in rows}


async def test_weekly_digest_goes_to_each_area_channel_once_and_not_when_nothing_is_new(
    core, store, clock
):
    await say(core, ANN, "area channel Marr", where=channel("marr"))
    await say(core, ANN, "area channel Formartine", where=channel("formartine"))
    await core.run_jobs(START)
    assert await digests(store) == {}  # nothing shared last week

    clock.now = START + timedelta(days=1)
    await say(core, ANN, "practice save", form=COOKING)  # Marr
    await say(core, CAT, 'practice share "Peer mentors" Lived experience helps area=all')
    next_monday = START + timedelta(days=7, hours=1)
    await core.run_jobs(next_monday)
    await core.run_jobs(next_monday + timedelta(days=2))  # the same week: nothing again

    found = await digests(store)
    async with store.unit() as uow:
        marr = await uow.areas.by_name("Marr")
        formartine = await uow.areas.by_name("Formartine")
    assert sorted(key.rsplit(":", 1)[0] for key in found) == [
        f"practice.digest:{marr.id}:2026-W10",
        f"practice.digest:{formartine.id}:2026-W10",
    ]
    by_area = {key.split(":")[1]: view_from_dict(row.view) for key, row in found.items()}
    marr_view = by_area[str(marr.id)]
    assert marr_view.summary == "2 new practice records in Marr last week"
    assert marr_view.blocks[0] == Heading("New practice in Marr: week of 2 March 2026")
    formartine_view = by_area[str(formartine.id)]
    assert formartine_view.summary == "1 new practice record in Formartine last week"

    # The week after, nothing new: no digest.
    await core.run_jobs(next_monday + timedelta(days=7))
    assert len(await digests(store)) == 2
    async with store.unit() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) >= 2
