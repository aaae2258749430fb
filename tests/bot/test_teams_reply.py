"""A reply sent straight to the Bot Connector is the JSON botbuilder's turn context would send."""

from __future__ import annotations

from copy import deepcopy

import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import Activity, Attachment, ConversationAccount, SuggestedActions

from bot import teams_reply
from bot.teams import BearerHeaders, parse_activity, stored_reference
from bot.teams_cards import render_activity
from bot.teams_reply import activities_url, activity_json, fast_json, reply_fields, view_json
from dialogs.messages import ConversationKind
from dialogs.views import Actions, Button, Facts, Heading, Image, Paragraph, View

INCOMING = {
    "type": "message",
    "id": "1701234567890",
    "timestamp": "2026-12-02T17:00:00.000Z",
    "localTimestamp": "2026-12-02T17:00:00.000+00:00",
    "serviceUrl": "https://smba.trafficmanager.net/uk/",
    "channelId": "msteams",
    "from": {"id": "29:1abc", "name": "Ailsa Marr", "aadObjectId": "00000000-0000-0000-0000-1"},
    "conversation": {
        "conversationType": "personal",
        "tenantId": "tenant-1",
        "id": "a:1xyz/with-slash",
    },
    "recipient": {"id": "28:bot-app-id", "name": "partnerbot"},
    "textFormat": "plain",
    "locale": "en-GB",
    "text": "help",
    "entities": [{"type": "clientInfo", "locale": "en-GB", "country": "GB", "platform": "Web"}],
    "channelData": {"tenant": {"id": "tenant-1"}},
}

VIEWS = [
    View(summary="Saved.", blocks=(Paragraph("Saved."),)),
    View(
        summary="Your profile",
        blocks=(
            Heading("Your profile"),
            Facts((("Area", "Marr"), ("Roles", "member"))),
            Actions((Button("Help", "help"),)),
        ),
    ),
]


def sdk_reply(activity: Activity, incoming: Activity) -> dict:
    """What TurnContext.send_activities makes of a reply before the connector client sends it."""
    reply = TurnContext.apply_conversation_reference(
        deepcopy(activity), TurnContext.get_conversation_reference(incoming)
    )
    reply.input_hint = reply.input_hint or "acceptingInput"
    return reply.serialize()


@pytest.mark.parametrize("view", VIEWS, ids=["plain", "card"])
def test_a_rendered_reply_is_the_json_the_sdk_sends(view):
    incoming = parse_activity(INCOMING)
    assert isinstance(incoming, Activity)
    rendered = render_activity(view)

    assert fast_json(rendered) is not None  # what the renderer makes takes the fast path
    assert {**activity_json(rendered), **reply_fields(incoming)} == sdk_reply(rendered, incoming)


def test_an_attachment_with_a_url_and_an_activity_with_fields_the_fast_path_lacks_serialise_whole():
    incoming = parse_activity(INCOMING)
    assert isinstance(incoming, Activity)
    image = Activity(
        type="message",
        text="Ratings by area",
        attachments=[
            Attachment(content_type="image/png", content_url="data:image/png;base64,AAAA", name="a")
        ],
    )
    suggested = Activity(
        type="message",
        text="Pick one",
        suggested_actions=SuggestedActions(to=["29:1abc"], actions=[]),
    )
    assert fast_json(image) is not None
    assert fast_json(suggested) is None  # a field the fast path lacks: msrest serialises it
    for activity in (image, suggested):
        assert {**activity_json(activity), **reply_fields(incoming)} == sdk_reply(
            activity, incoming
        )


def test_ids_are_quoted_whole_in_the_connector_url():
    url = activities_url("https://smba.trafficmanager.net/uk/", "a:1xyz/with-slash", "17;x=1")
    assert str(url) == (
        "https://smba.trafficmanager.net/uk/v3/conversations/a%3A1xyz%2Fwith-slash"
        "/activities/17%3Bx%3D1"
    )
    assert str(activities_url("http://127.0.0.1:9/", "19:c@thread.tacv2", None)) == (
        "http://127.0.0.1:9/v3/conversations/19%3Ac%40thread.tacv2/activities"
    )


@pytest.mark.parametrize("kind", ["personal", "channel"])
def test_the_stored_reference_is_the_sdks_conversation_reference_of_the_chat(kind):
    body = deepcopy(INCOMING)
    if kind == "channel":
        body["conversation"] = {
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": "tenant-1",
            "id": "19:abc@thread.tacv2;messageid=1701234567890",
        }
    incoming = parse_activity(body)
    assert isinstance(incoming, Activity)
    channel_id = incoming.conversation.id.partition(";messageid=")[0]
    personal = kind == "personal"

    expected = TurnContext.get_conversation_reference(incoming)
    expected.activity_id = None
    expected.conversation = ConversationAccount(
        id=channel_id,
        conversation_type=incoming.conversation.conversation_type,
        is_group=incoming.conversation.is_group,
        tenant_id="tenant-1",
    )
    if not personal:
        expected.user = expected.locale = None
    kinds = {"personal": ConversationKind.PERSONAL, "channel": ConversationKind.CHANNEL}

    assert stored_reference(incoming, channel_id, "tenant-1", kinds[kind]) == expected.serialize()


def test_a_view_renders_once_to_the_json_it_always_had() -> None:
    for view in VIEWS:
        expected = activity_json(render_activity(view))
        first = view_json(view)
        # An equal view built anew (the next member's help) gets the same rendering.
        again = view_json(deepcopy(view))
        assert first == expected
        assert again is first


def test_a_sent_copy_leaves_the_rendering_as_it_was() -> None:
    view = VIEWS[-1]
    before = deepcopy(view_json(view))
    sent = {**view_json(view), **reply_fields(parse_activity(INCOMING))}
    sent["id"] = "replaced"
    assert view_json(view) == before
    assert "id" not in view_json(view) and "replyToId" not in view_json(view)


def test_a_view_that_cannot_be_a_key_is_rendered_each_time() -> None:
    # Frozen views hash; one built with a list where a tuple belongs does not, and still renders.
    view = View(summary="Facts", blocks=(Facts([("Area", "North")]),))  # type: ignore[arg-type]
    assert view_json(view) == activity_json(render_activity(view))


class CountedCredentials:
    """The SDK's credentials as far as signing goes: a new token each time it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    def signed_session(self, session):
        self.asked += 1
        session.headers["Authorization"] = f"Bearer token-{self.asked}"
        return session


def test_the_bearer_header_is_asked_for_once_a_minute_per_credentials() -> None:
    now = [1000.0]
    headers = BearerHeaders(clock=lambda: now[0])
    one, other = CountedCredentials(), CountedCredentials()

    assert headers(one) == headers(one) == {"Authorization": "Bearer token-1"}
    assert headers(other) == {"Authorization": "Bearer token-1"}
    now[0] += 59
    assert headers(one) == {"Authorization": "Bearer token-1"}
    now[0] += 2
    assert headers(one) == {"Authorization": "Bearer token-2"}
    assert (one.asked, other.asked) == (2, 1)
    assert headers(None) == {}


def test_a_view_with_a_chart_or_many_blocks_is_not_kept() -> None:
    chart = View(
        summary="Report", blocks=(Heading("Report"), Image("Ratings", "bars", b"\x89PNG" * 5000))
    )
    long = View(summary="All", blocks=tuple(Paragraph(f"Line {n}") for n in range(41)))
    for view in (chart, long):
        kept = teams_reply._rendered.cache_info().currsize
        assert view_json(view) == activity_json(render_activity(view))
        assert teams_reply._rendered.cache_info().currsize == kept  # not kept
        assert view_json(view) is not view_json(view)
