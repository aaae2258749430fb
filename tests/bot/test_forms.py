"""A view's inputs travel with the button pressed: rendered for a platform, filled in and submitted
the way that platform submits them, then parsed by the edge into ``IncomingMessage.form``; and over
HTTP, a press that carries inputs is answered like any other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from botbuilder.schema import Activity

from bot.slack import form_values
from bot.slack_blocks import render_blocks
from bot.teams import executed_message, incoming_message
from bot.teams_cards import render_card
from dialogs.messages import FormValue
from dialogs.views import Actions, Button, ChoiceInput, TextInput, View
from tests.bot.fake_connector import FakeConnector
from tests.bot.fake_slack import FakeSlack
from tests.bot.test_slack import ADMIN, button_press
from tests.bot.test_teams import Teams

SCALE = (
    ("6", "6 excellent"),
    ("5", "5 very good"),
    ("4", "4 good"),
    ("3", "3 satisfactory"),
    ("2", "2 weak"),
    ("1", "1 unsatisfactory"),
)
QUESTION = View(
    "Question 1 of 4",
    (
        ChoiceInput("rating", "How good is our partnership working?", SCALE, value="4"),
        TextInput("working_well", "What is working well?"),
        TextInput("evidence", "How do you know?", value="Survey <results> & *notes*"),
        Actions((Button("Save", "checkin save 7 1"), Button("Skip", "checkin skip 7 1"))),
    ),
)


# -- Teams: Action.Submit / Action.Execute --------------------------------------------------------


def teams_submit(card: dict[str, Any], title: str, typed: dict[str, str]) -> dict[str, Any]:
    """The value Teams sends for a press: the action's data with every input's value merged in
    (what was typed, else the input's initial value, else an empty string)."""
    values = {}
    for element in card["body"]:
        if element["type"].startswith("Input."):
            values[element["id"]] = typed.get(element["id"], element.get("value", ""))
    (action,) = [
        action
        for element in card["body"]
        if element["type"] == "ActionSet"
        for action in element["actions"]
        if action["title"] == title
    ]
    return {**action["data"], **values}


def teams_activity(**fields: Any) -> Activity:
    body = {
        "type": "message",
        "id": "1700000000001",
        "serviceUrl": "https://smba.trafficmanager.net/uk/",
        "channelId": "msteams",
        "from": {"id": "29:1AnnLeeXyZ", "name": "Ann Lee"},
        "conversation": {"conversationType": "personal", "id": "a:1personal", "tenantId": "t1"},
        "recipient": {"id": "28:bot", "name": "partnerbot"},
        "channelData": {"tenant": {"id": "t1"}},
        **fields,
    }
    return Activity().deserialize(body)


def test_an_action_submit_carries_the_cards_inputs_as_the_form():
    value = teams_submit(
        render_card(QUESTION), "Save", {"rating": "5", "working_well": "Joint planning"}
    )

    message = incoming_message(teams_activity(value=value, replyToId="bot-activity-1"))

    assert message is not None
    assert (message.text, message.is_button) == ("checkin save 7 1", True)
    assert message.form == (
        FormValue("rating", "5"),
        FormValue("working_well", "Joint planning"),
        FormValue("evidence", "Survey <results> & *notes*"),
    )
    assert message.form_value("rating") == "5"


def test_an_untouched_card_submits_its_initial_values_and_empty_text():
    value = teams_submit(render_card(QUESTION), "Skip", {})

    message = incoming_message(teams_activity(value=value))

    assert message is not None and message.text == "checkin skip 7 1"
    assert dict((item.name, item.value) for item in message.form) == {
        "rating": "4",
        "working_well": "",
        "evidence": "Survey <results> & *notes*",
    }


def test_what_is_not_a_string_in_a_submit_is_not_part_of_the_form():
    value = {"command": "help", "rating": "6", "msteams": {"type": "messageBack"}, "n": 3}
    message = incoming_message(teams_activity(value=value))
    assert message is not None and message.form == (FormValue("rating", "6"),)


def test_an_action_execute_carries_the_inputs_in_its_data():
    data = teams_submit(render_card(QUESTION), "Save", {"rating": "6", "working_well": "Trust"})
    invoke = teams_activity(
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": "run", "data": data}},
    )

    message = executed_message(invoke)

    assert message is not None and message.text == "checkin save 7 1"
    assert message.form_value("rating") == "6"
    assert message.form_value("working_well") == "Trust"


# -- Slack: block_actions state.values ------------------------------------------------------------


def slack_state(blocks: list[dict[str, Any]], typed: dict[str, str | None]) -> dict[str, Any]:
    """``state.values`` as Slack sends it with a block action: by block_id, then action_id; an
    untouched input is its initial value or null."""
    values: dict[str, Any] = {}
    for block in blocks:
        if block["type"] != "input":
            continue
        element = block["element"]
        name = element["action_id"]
        if element["type"] == "plain_text_input":
            text = typed.get(name, element.get("initial_value"))
            state = {"type": "plain_text_input", "value": text}
        else:
            chosen = typed.get(name)
            option = next(
                (o for o in element["options"] if o["value"] == chosen),
                element.get("initial_option"),
            )
            state = {"type": element["type"], "selected_option": option}
        values[block["block_id"]] = {name: state}
    return {"values": values}


def test_block_actions_state_gives_the_form_by_input_name():
    blocks = render_blocks(QUESTION)

    form = form_values(slack_state(blocks, {"rating": "5", "working_well": "Joint planning"}))

    assert form == (
        FormValue("rating", "5"),
        FormValue("working_well", "Joint planning"),
        FormValue("evidence", "Survey <results> & *notes*"),
    )


def test_an_empty_text_input_and_no_choice_are_left_out_of_the_form():
    view = View("q", (ChoiceInput("rating", "Rating", SCALE), TextInput("notes", "Notes")))

    assert form_values(slack_state(render_blocks(view), {})) == ()


def test_a_select_of_many_options_gives_its_selected_value():
    options = tuple((f"area-{i}", f"Area {i}") for i in range(12))
    blocks = render_blocks(View("q", (ChoiceInput("area", "Area", options),)))
    assert blocks[0]["element"]["type"] == "static_select"

    assert form_values(slack_state(blocks, {"area": "area-11"})) == (FormValue("area", "area-11"),)


# -- over HTTP: a press with inputs is answered ---------------------------------------------------


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def teams(
    make_settings: Callable[..., Any], serve_app: Callable[..., Any], connector: FakeConnector
) -> AsyncIterator[Teams]:
    base = await serve_app(make_settings())
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan"})
    await fake.start()
    yield fake
    await fake.close()


async def test_a_teams_submit_with_inputs_is_answered(teams, connector):
    press = teams.activity(
        "message",
        value={"command": "help directory", "rating": "5", "working_well": "Joint planning"},
        replyToId="bot-activity-1",
    )

    assert (await teams.post(press)).status in (200, 201)

    [card] = connector.cards()
    assert card.card_texts[0] == "Help: Your profile, areas, roles, partners and experts"


async def test_a_slack_press_with_inputs_is_answered(slack, fake_slack):
    press = button_press(fake_slack, "help directory", response="r1")
    press["state"] = slack_state(
        render_blocks(QUESTION), {"rating": "5", "working_well": "Joint planning"}
    )

    status, body = await slack.interaction(press)

    assert (status, body) == (200, "")
    welcome, answer = await fake_slack.wait_for("response/r1", count=2)
    assert "Welcome" in welcome.body["text"]
    assert answer.blocks[0]["text"]["text"].startswith("Help: ")


async def test_a_slack_link_button_is_acked_and_runs_nothing(slack, fake_slack):
    link = button_press(fake_slack, "", response="r1")
    (action,) = link["actions"]
    del action["value"]
    action.update(action_id="link:0", url="https://example.org/report")

    status, body = await slack.interaction(link)
    # A marker after it: once this is answered, the link press has long been dealt with.
    await slack.interaction(button_press(fake_slack, "help", response="r2"))
    await fake_slack.wait_for("response/r2", count=2)

    assert (status, body) == (200, "")
    assert fake_slack.calls_to("response/r1") == []
    assert fake_slack.calls_to("chat.postMessage") == []
