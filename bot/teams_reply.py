"""Replies to a Teams message straight over the shared aiohttp session, as the JSON the SDK sends.

A stock turn builds a TurnContext, deep-copies each reply, runs it through msrest's model
serialiser and its client pipeline: about a fifth of a ``help`` turn's CPU
(docs/benchmarks.md, "Where the time goes"). A message's replies need none of it: they are the
rendered activity plus the addressing ``TurnContext.apply_conversation_reference`` puts on a
reply, POSTed to ``{serviceUrl}/v3/conversations/{id}/activities/{replyToId}`` with the bot's
token. Invokes, installs and proactive sends still go through botbuilder.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

from botbuilder.schema import Activity, Attachment, ChannelAccount, ConversationAccount
from yarl import URL

from bot.teams_cards import render_activity
from dialogs.views import Image, View

# The fields the renderer (bot/teams_cards.py) sets; an activity with any other goes through
# msrest's serialiser as it is, so nothing it carries is lost on the fast path.
_ACTIVITY_FIELDS = {
    "type": "type",
    "id": "id",
    "text": "text",
    "text_format": "textFormat",
    "summary": "summary",
    "attachment_layout": "attachmentLayout",
}
_ATTACHMENT_FIELDS = {
    "content_type": "contentType",
    "content_url": "contentUrl",
    "content": "content",
    "name": "name",
    "thumbnail_url": "thumbnailUrl",
}
_ACCOUNT_FIELDS = {"id": "id", "name": "name", "aad_object_id": "aadObjectId", "role": "role"}
_CONVERSATION_FIELDS = {
    **_ACCOUNT_FIELDS,
    "is_group": "isGroup",
    "conversation_type": "conversationType",
    "tenant_id": "tenantID",  # msrest's attribute map spells it so
}


class ConnectorError(Exception):
    """The Bot Connector refused a reply: its status and error code, never the body we sent."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"the Bot Connector answered {status} {code}".rstrip())
        self.status = status
        self.code = code


# Views rendered lately, each with its JSON: most replies are one of a few (help, the next
# question of a check-in, "saved"), and rendering one is most of a reply's own CPU. Only small
# views are kept: a report's charts are PNGs, its listings long, and each is asked for once.
MAX_RENDERED = 256
MAX_RENDERED_BLOCKS = 40


def view_json(view: View) -> dict[str, Any]:
    """``view`` rendered as the JSON of its activity (render_activity, activity_json), the same
    object for an equal small view rendered a moment ago: callers copy it, never change it."""
    if len(view.blocks) <= MAX_RENDERED_BLOCKS and not any(
        isinstance(block, Image) for block in view.blocks
    ):
        try:
            return _rendered(view)
        except TypeError:  # a view holding something unhashable: rendered each time
            pass
    return activity_json(render_activity(view))


@lru_cache(maxsize=MAX_RENDERED)
def _rendered(view: View) -> dict[str, Any]:
    return activity_json(render_activity(view))


def activity_json(activity: Activity) -> dict[str, Any]:
    """``activity`` as msrest would serialise it, without walking it through msrest."""
    return fast_json(activity) or activity.serialize()


def fast_json(activity: Activity) -> dict[str, Any] | None:
    """The fast path's JSON, or None when the activity has a field it does not know."""
    fields = _set_fields(activity)
    attachments = fields.pop("attachments", None) or []
    if fields.keys() - _ACTIVITY_FIELDS.keys():
        return None
    out = {_ACTIVITY_FIELDS[name]: value for name, value in fields.items()}
    if attachments:
        out["attachments"] = []
        for attachment in attachments:
            found = _set_fields(attachment)
            if found.keys() - _ATTACHMENT_FIELDS.keys():
                return None
            out["attachments"].append({_ATTACHMENT_FIELDS[n]: v for n, v in found.items()})
    return out


def _set_fields(model: Activity | Attachment) -> dict[str, Any]:
    # msrest models carry an empty additional_properties dict it leaves out of the JSON.
    return {
        name: value
        for name, value in vars(model).items()
        if value is not None and not (name == "additional_properties" and not value)
    }


def _model(model: ChannelAccount | ConversationAccount | None, names: dict[str, str]) -> Any:
    if model is None:
        return None
    return {
        key: value
        for name, key in names.items()
        if (value := getattr(model, name, None)) is not None
    }


def account_json(account: ChannelAccount | None) -> dict[str, Any] | None:
    return _model(account, _ACCOUNT_FIELDS)


def reply_fields(incoming: Activity) -> dict[str, Any]:
    """What the turn context puts on every reply to ``incoming``: from the bot, to the sender,
    in the same conversation, in reply to it (TurnContext.apply_conversation_reference), and
    ``inputHint`` as its send_activities does."""
    fields = {
        "channelId": incoming.channel_id,
        "serviceUrl": incoming.service_url,
        "locale": incoming.locale,
        "conversation": _model(incoming.conversation, _CONVERSATION_FIELDS),
        "from": _model(incoming.recipient, _ACCOUNT_FIELDS),
        "recipient": _model(incoming.from_property, _ACCOUNT_FIELDS),
        "replyToId": incoming.id,
        "inputHint": "acceptingInput",
    }
    return {key: value for key, value in fields.items() if value is not None}


def activities_url(service_url: str, conversation_id: str, activity_id: str | None) -> URL:
    """The Bot Connector's URL for a conversation's activities (one of them with an id), each
    id quoted whole as msrest quotes it: a ``/`` in an id stays inside its segment."""
    base = service_url.rstrip("/")
    path = f"{base}/v3/conversations/{quote(conversation_id, safe='')}/activities"
    if activity_id:
        path += "/" + quote(activity_id, safe="")
    return URL(path, encoded=True)
