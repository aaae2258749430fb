"""The practice library on Teams over real HTTP: `practice share` answers with an Adaptive Card
form whose Action.Submit saves the record; the message action "Save to practice library"
(composeExtension/fetchTask, then submitAction) makes a draft from the message and opens the
form on it in a task module; what a member typed is shown as typed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from storage.models import PracticeRecord
from tests.bot.fake_connector import FakeConnector
from tests.bot.test_forms import teams_submit
from tests.bot.test_practice_slack import add_meetings
from tests.bot.test_teams import JANE, Teams

LINK = (
    "https://teams.microsoft.com/l/message/19:team-general@thread.tacv2/1700000000100"
    "?tenantId=t1&groupId=g1&parentMessageId=1700000000100"
)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def teams(make_settings, serve_app, connector) -> AsyncIterator[Teams]:
    base = await serve_app(make_settings())
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector)


async def saved(store) -> list[PracticeRecord]:
    async with store.unit() as uow:
        return list(await uow.session.scalars(select(PracticeRecord).order_by(PracticeRecord.id)))


def input_ids(card: dict[str, Any]) -> list[str]:
    return [element["id"] for element in card["body"] if element["type"].startswith("Input.")]


async def invoke(teams: Teams, name: str, value: dict[str, Any]) -> tuple[int, Any]:
    activity = teams.activity("invoke", channel=True, name=name, value=value)
    async with teams.session.post(teams.url, json=activity) as response:
        return response.status, await response.json()


async def test_practice_share_answers_with_a_card_form_that_saves_the_record(
    teams, connector, store
):
    await teams.say("practice share")

    [sent] = connector.cards()
    card = sent.card
    assert input_ids(card) == ["title", "text", "kind", "tags", "area", "links", "meeting"]
    typed = {
        "title": "Interpreters on enrolment day",
        "text": "Booking interpreters removed language barriers.",
        "kind": "resource",
        "tags": "language, refugees",
    }
    submit = teams_submit(card, "Share", typed)
    assert submit["command"] == "practice save"

    response = await teams.post(teams.activity("message", value=submit, replyToId="bot-activity-1"))

    assert response.status in (200, 201)
    assert connector.cards()[-1].card_texts == [
        "Shared practice #1: Interpreters on enrolment day."
    ]
    [record] = await saved(store)
    assert (record.title, record.kind, record.tag_text) == (
        "Interpreters on enrolment day",
        "resource",
        "language refugees",
    )


async def test_a_bad_card_submit_comes_back_as_the_form_with_the_reason(teams, connector, store):
    await teams.say("practice share")
    [sent] = connector.cards()

    submit = teams_submit(sent.card, "Share", {"title": "", "text": "Parents came"})
    await teams.post(teams.activity("message", value=submit, replyToId="bot-activity-1"))

    again = connector.cards()[-1]
    assert "The title is empty. Give the record a short title." in again.card_texts
    assert await saved(store) == []


async def test_the_message_action_saves_a_draft_and_its_form_publishes_it(teams, store):
    status, body = await invoke(
        teams,
        "composeExtension/fetchTask",
        {
            "commandId": "saveToPractice",
            "commandContext": "message",
            "context": {"theme": "default"},
            "messagePayload": {
                "id": "1700000000100",
                "messageType": "message",
                "createdDateTime": "2025-03-03T09:30:00.000Z",
                "linkToMessage": LINK,
                "from": {"user": {"id": "29:1JaneDoeAbC", "displayName": JANE["name"]}},
                "body": {
                    "contentType": "html",
                    "content": "<p>We ran a drop-in at the school gate &amp; "
                    '<at id="0">Ann Lee</at> met 12 parents.</p><p>Bring leaflets.</p>',
                },
                "mentions": [{"id": 0, "mentionText": "Ann Lee"}],
            },
        },
    )

    assert status == 200
    task = body["task"]
    assert (task["type"], task["value"]["title"]) == ("continue", "Save to practice library")
    card = task["value"]["card"]["content"]
    assert card["type"] == "AdaptiveCard"
    inputs = {e["id"]: e.get("value") for e in card["body"] if e["type"].startswith("Input.")}
    assert inputs["text"] == (
        "We ran a drop-in at the school gate & @Ann Lee met 12 parents.\nBring leaflets."
    )
    [draft] = await saved(store)
    assert (draft.status, draft.source_author, draft.source_url) == ("draft", "Jane Doe", LINK)
    assert draft.source_at is not None and draft.source_at.isoformat() == (
        "2025-03-03T09:30:00+00:00"
    )

    data = teams_submit(card, "Share", {"title": "School gate drop-in", "tags": "parents"})
    status, body = await invoke(
        teams,
        "composeExtension/submitAction",
        {"commandId": "saveToPractice", "commandContext": "message", "data": data},
    )

    assert status == 200
    assert body == {
        "task": {
            "type": "message",
            "value": f"Shared practice #{draft.id}: School gate drop-in.",
        }
    }
    [record] = await saved(store)
    assert (record.status, record.title, record.source_author) == (
        "published",
        "School gate drop-in",
        "Jane Doe",
    )


async def test_a_bad_task_module_submit_shows_the_form_again(teams, store):
    status, body = await invoke(
        teams,
        "composeExtension/submitAction",
        {
            "commandId": "saveToPractice",
            "data": {"command": "practice save", "title": "Cooking", "text": "x", "tags": "zzz"},
        },
    )

    assert status == 200
    card = body["task"]["value"]["card"]["content"]
    texts = [e.get("text") for e in card["body"] if e["type"] == "TextBlock"]
    assert any("There's no tag `zzz` in the library." in (text or "") for text in texts)
    assert await saved(store) == []


async def test_an_unknown_message_action_is_refused(teams, store):
    status, _ = await invoke(
        teams, "composeExtension/fetchTask", {"commandId": "somethingElse", "messagePayload": {}}
    )
    assert status == 400
    assert await saved(store) == []


async def test_what_was_typed_is_shown_as_typed_in_the_card(teams, connector):
    title = "**bold** [click](https://evil.example) <at>Ann</at> # heading"
    await teams.say("practice share")
    [sent] = connector.cards()
    submit = teams_submit(sent.card, "Share", {"title": title, "text": "- item\n> quote"})
    await teams.post(teams.activity("message", value=submit, replyToId="bot-activity-1"))

    await teams.say("practice 1")

    shown = connector.cards()[-1]
    assert shown.card_texts[0] == (
        r"\#1 \*\*bold\*\* \[click\](https://evil.example) <at>Ann</at> # heading"
    )
    assert r"\- item" in shown.card_texts[1] and r"\> quote" in shown.card_texts[1]


async def test_backticks_typed_into_a_record_show_as_backticks_not_code(teams, connector):
    title = "Use `practice recent` daily"
    body = "Type `checkin` in the chat, then `skip`."
    await teams.say("practice share")
    [sent] = connector.cards()
    submit = teams_submit(sent.card, "Share", {"title": title, "text": body})
    await teams.post(teams.activity("message", value=submit, replyToId="bot-activity-1"))
    assert connector.cards()[-1].card_texts == [
        r"Shared practice #1: Use \`practice recent\` daily."
    ]

    await teams.say("practice 1")

    shown = connector.cards()[-1]
    # Escaped backticks: Adaptive Card markdown shows them as backticks, never as code.
    assert shown.card_texts[:2] == [
        r"\#1 Use \`practice recent\` daily",
        r"Type \`checkin\` in the chat, then \`skip\`.",
    ]
    assert shown.activity["summary"].startswith(f"#1 {title} (idea, ")
    assert "\u2060" not in json.dumps(shown.activity)  # the core's mark never reaches Teams

    # The bot's own hints keep their code: a search with no match suggests a command.
    await teams.say("practice search zebra")
    assert any(
        "`practice tags`" in text for text in connector.cards()[-1].card_texts + connector.texts()
    )


async def test_the_forum_meeting_chosen_on_the_card_is_saved_and_shown(teams, connector, store):
    on_now, upcoming = await add_meetings(store)
    await teams.say("practice share")
    [sent] = connector.cards()
    (field,) = [e for e in sent.card["body"] if e.get("id") == "meeting"]
    offered = [choice["value"] for choice in field["choices"]]
    assert offered == ["none", str(on_now)] and str(upcoming) not in offered
    assert field["value"] == str(on_now)

    typed = {"title": "Family cooking nights", "text": "Parents came.", "meeting": str(on_now)}
    submit = teams_submit(sent.card, "Share", typed)
    await teams.post(teams.activity("message", value=submit, replyToId="bot-activity-1"))
    assert connector.cards()[-1].card_texts == ["Shared practice #1: Family cooking nights."]
    [record] = await saved(store)
    assert record.meeting_id == on_now

    await teams.say("practice 1")
    facts = [
        (f["title"], f["value"])
        for e in connector.cards()[-1].card["body"]
        for f in e.get("facts", ())
    ]
    assert any(title == "At" and value.startswith("Marr forum, ") for title, value in facts)
