"""bot/teams_inbound.py builds the same Activity msrest's deserialiser builds, for every shape of
activity Teams sends and for the odd ones; whatever msrest would convert or refuse still goes to
msrest, with msrest's answer."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from botbuilder.schema import Activity
from msrest.exceptions import DeserializationError
from msrest.serialization import Model

from bot.teams_inbound import activity_from_json

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ANN = {"id": "29:1AnnLeeXyZ", "name": "Ann Lee", "aadObjectId": "6a1c-ann"}
BOT = {"id": "28:7b3f2a1e-partnerbot", "name": "partnerbot"}


def base(kind: str, **fields: Any) -> dict[str, Any]:
    body = {
        "type": kind,
        "id": "1700000000001",
        "timestamp": "2025-03-03T09:30:00.1234567Z",
        "localTimestamp": "2025-03-03T10:30:00.1234567+01:00",
        "localTimezone": "Europe/Paris",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "from": ANN,
        "conversation": {"conversationType": "personal", "id": "a:1chat", "tenantId": TENANT},
        "recipient": BOT,
        "channelData": {"tenant": {"id": TENANT}},
        "locale": "en-GB",
    }
    body.update(fields)
    return body


CLIENT_INFO = {
    "type": "clientInfo",
    "locale": "en-GB",
    "country": "GB",
    "platform": "Web",
    "timezone": "Europe/London",
}

ACTIVITIES = {
    "personal message": base(
        "message", text="help", textFormat="plain", entities=[CLIENT_INFO], attachments=[]
    ),
    "channel mention": base(
        "message",
        text="<at>partnerbot</at> role coordinator <at>Ann Lee</at>",
        textFormat="plain",
        conversation={
            "isGroup": True,
            "conversationType": "channel",
            "id": "19:general@thread.tacv2;messageid=1700000000001",
            "tenantId": TENANT,
            "name": None,
        },
        channelData={
            "teamsChannelId": "19:general@thread.tacv2",
            "teamsTeamId": "19:team@thread.tacv2",
            "channel": {"id": "19:general@thread.tacv2"},
            "team": {"id": "19:team@thread.tacv2", "name": "Marr"},
            "tenant": {"id": TENANT},
        },
        entities=[
            {"type": "mention", "text": "<at>partnerbot</at>", "mentioned": BOT},
            {"type": "mention", "text": "<at>Ann Lee</at>", "mentioned": ANN},
            CLIENT_INFO,
        ],
        attachments=[
            {
                "contentType": "text/html",
                "content": "<div><at>partnerbot</at> role</div>",
            }
        ],
    ),
    "Action.Submit": base(
        "message",
        replyToId="1699999999999",
        value={"command": "checkin answer 7 1", "rating": "4", "nested": {"a": [1, 2.5, None]}},
    ),
    "Action.Execute invoke": base(
        "invoke",
        name="adaptiveCard/action",
        replyToId="1699999999999",
        value={"action": {"type": "Action.Execute", "verb": "command", "data": {"c": "help"}}},
    ),
    "installed": base(
        "conversationUpdate",
        membersAdded=[BOT, {"id": "29:2Jane", "aadObjectId": "8d2e"}],
        membersRemoved=[],
        channelData={"tenant": {"id": TENANT}, "eventType": "teamMemberAdded"},
    ),
    "installation update": base("installationUpdate", action="add"),
    "expect replies": base("message", text="help", deliveryMode="expectReplies"),
    "a key no model names": base(
        "message", text="help", somethingNew={"x": 1}, entities=[{"type": "x", "odd": [1]}]
    ),
    "msteams casing of the tenant": base(
        "message", text="help", conversation={"id": "a:1", "tenantID": TENANT, "isGroup": False}
    ),
    "nulls": base("message", text=None, entities=None, attachments=[{"contentType": None}]),
    "listen for": base("message", text="x", listenFor=["yes", "no"], historyDisclosed=True),
}

# msrest converts these (a number where a string belongs, "true" for a bool) or builds a type
# the fast path does not: they go through msrest as they are.
THROUGH_MSREST = {
    "a number for a name": base("message", text="help", from_={}, name=None, speak=5),
    "a string for a bool": base("message", historyDisclosed="true"),
    "reactions": base(
        "messageReaction", reactionsAdded=[{"type": "like"}], replyToId="1699999999999"
    ),
    "suggested actions": base(
        "message", suggestedActions={"to": ["29:1"], "actions": [{"type": "imBack"}]}
    ),
    "relates to": base("message", relatesTo={"activityId": "1", "channelId": "msteams"}),
    "a None in a list": base("message", listenFor=["yes", None]),
}


def state(value: Any) -> Any:
    """What an attribute holds, recursively, with each model's class."""
    if isinstance(value, Model):
        return (type(value).__name__, {k: state(v) for k, v in vars(value).items()})
    if isinstance(value, list):
        return [state(item) for item in value]
    if isinstance(value, dict):
        return {k: state(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("body", [*ACTIVITIES.values(), *THROUGH_MSREST.values()])
def test_the_activity_is_the_one_msrest_builds(body: dict[str, Any]) -> None:
    expected = Activity().deserialize(copy.deepcopy(body))
    built = activity_from_json(copy.deepcopy(body))

    assert type(built) is Activity
    assert state(built) == state(expected)
    assert built.serialize() == expected.serialize()


@pytest.mark.parametrize("body", ACTIVITIES.values(), ids=ACTIVITIES.keys())
def test_what_teams_sends_is_built_without_msrest(
    body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("went through msrest")

    monkeypatch.setattr(Activity, "deserialize", refuse)
    built = activity_from_json(copy.deepcopy(body))
    assert built.type == body["type"] and built.from_property.id == ANN["id"]


@pytest.mark.parametrize("body", THROUGH_MSREST.values(), ids=THROUGH_MSREST.keys())
def test_what_msrest_would_convert_goes_through_msrest(
    body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    deserialize = Activity.deserialize

    def counted(self: Activity, data: dict[str, Any]) -> Activity:
        calls.append(data)
        return deserialize(data)

    monkeypatch.setattr(Activity, "deserialize", counted)
    activity_from_json(copy.deepcopy(body))
    assert calls == [body]


def test_timestamps_are_read_as_msrest_reads_them() -> None:
    built = activity_from_json(base("message"))
    assert built.timestamp == datetime.datetime(2025, 3, 3, 9, 30, 0, 123456, tzinfo=datetime.UTC)
    assert built.local_timestamp.utcoffset() == datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-03-03T09:30:00.1234567Z",
        "2025-03-03T09:30:00.9999999Z",
        "2026-12-02T17:00:00Z",
        "2026-12-02T17:00:00.5-05:30",
        "2026-12-02T17:00:00.123+13:45",
        "2026-12-02t17:00:00z",  # msrest reads any case
        "2026-12-02T17:00:00",  # no zone: msrest reads it naive
        "2026-12-02T17:00:00.12345678Z",  # eight digits
        "2026-12-31T23:59:60Z",  # a leap second
    ],
)
def test_every_timestamp_is_what_msrest_reads(stamp: str) -> None:
    try:
        expected = Activity().deserialize(base("message", timestamp=stamp)).timestamp
    except DeserializationError:
        with pytest.raises(DeserializationError):
            activity_from_json(base("message", timestamp=stamp))
        return
    built = activity_from_json(base("message", timestamp=stamp)).timestamp
    assert built == expected
    assert built.utcoffset() == expected.utcoffset()
    assert built.isoformat() == expected.isoformat()


@pytest.mark.parametrize("stamp", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "x"])
def test_a_timestamp_msrest_refuses_is_refused(stamp: str) -> None:
    with pytest.raises(DeserializationError):
        Activity().deserialize(base("message", timestamp=stamp))
    with pytest.raises(DeserializationError):
        activity_from_json(base("message", timestamp=stamp))
