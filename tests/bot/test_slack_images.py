"""Charts in Slack replies: Block Kit shows images only from a public URL, so the edge posts the
message and then uploads each PNG as a file (files_upload_v2: files.getUploadURLExternal, the
upload, files.completeUploadExternal) to the fake Web API on loopback."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import ResponseSession, post_reply, respond_reply
from dialogs.views import Heading, Image, Paragraph, Reply, View, text_reply
from tests.bot.fake_slack import TOKEN, Call, FakeSlack


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


RATINGS = png(3, 2)
TREND = png(4, 4)
REPORT = Reply(
    View(
        "QI 3.2 report",
        (
            Heading("QI 3.2 report"),
            Image("Ratings by area", "Bar chart: North 4, South 5", RATINGS),
            Paragraph("Compared with the last cycle:"),
            Image("Change since 2024", "Line chart", TREND),
        ),
    )
)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def client(fake_slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url)


def uploads(fake: FakeSlack) -> list[Call]:
    return [call for call in fake.calls if call.method.startswith("upload/")]


async def test_a_reply_with_charts_is_posted_then_each_chart_uploaded_to_its_channel(
    fake_slack, client
):
    await post_reply(client, REPORT, channel="C1", thread_ts="1700000000.000100")

    methods = [call.method for call in fake_slack.calls]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "upload/F0001",
        "upload/F0002",
        "files.completeUploadExternal",
    ]
    message = fake_slack.calls[0]
    assert message.body["channel"] == "C1"
    assert any("Ratings by area (the chart is sent as a file)" in t for t in message.texts())
    first, second = fake_slack.calls_to("files.getUploadURLExternal")
    assert (first.body["filename"], int(first.body["length"])) == (
        "ratings-by-area.png",
        len(RATINGS),
    )
    assert first.body["alt_txt"] == "Bar chart: North 4, South 5"
    assert (second.body["filename"], int(second.body["length"])) == (
        "change-since-2024.png",
        len(TREND),
    )
    assert [call.body["content"] for call in uploads(fake_slack)] == [RATINGS, TREND]
    (done,) = fake_slack.calls_to("files.completeUploadExternal")
    assert done.body["channel_id"] == "C1"
    assert done.body["thread_ts"] == "1700000000.000100"
    assert json.loads(done.body["files"]) == [
        {"id": "F0001", "title": "Ratings by area"},
        {"id": "F0002", "title": "Change since 2024"},
    ]
    # The Web API calls carry the bot token.
    assert {call.authorization for call in fake_slack.calls if "." in call.method} == {
        f"Bearer {TOKEN}"
    }


async def test_a_private_chart_goes_to_the_members_dm_not_the_channel(fake_slack, client):
    await post_reply(client, REPORT, channel="C1", only_for="U1")

    (ephemeral,) = fake_slack.calls_to("chat.postEphemeral")
    assert (ephemeral.body["channel"], ephemeral.body["user"]) == ("C1", "U1")
    (opened,) = fake_slack.calls_to("conversations.open")
    assert opened.body["users"] == "U1"
    (done,) = fake_slack.calls_to("files.completeUploadExternal")
    assert done.body["channel_id"] == "DU1"
    assert [call.body["content"] for call in uploads(fake_slack)] == [RATINGS, TREND]


async def test_a_reply_on_the_response_url_sends_its_charts_to_the_members_dm(fake_slack, client):
    respond = AsyncRespond(response_url=fake_slack.response_url("r1"))

    responses = ResponseSession()
    try:
        await respond_reply(respond, client, REPORT, user_id="U1", session=responses.get())
    finally:
        await responses.close()

    (answer,) = fake_slack.calls_to("response/r1")
    assert answer.body["response_type"] == "ephemeral"
    (done,) = fake_slack.calls_to("files.completeUploadExternal")
    assert done.body["channel_id"] == "DU1"
    assert [call.body["content"] for call in uploads(fake_slack)] == [RATINGS, TREND]


async def test_a_reply_without_charts_uploads_nothing(fake_slack, client):
    await post_reply(client, text_reply("Saved."), channel="C1")
    await post_reply(client, Reply(View("x", (Image("Empty", "nothing", b""),))), channel="C1")

    assert [call.method for call in fake_slack.calls] == ["chat.postMessage", "chat.postMessage"]


async def test_no_chart_is_uploaded_when_the_message_was_refused(fake_slack, client, caplog):
    fake_slack.failures["chat.postMessage"] = [400]

    await post_reply(client, REPORT, channel="C1")

    assert [call.method for call in fake_slack.calls] == ["chat.postMessage"]
    assert "Slack refused a reply" in caplog.text


async def test_a_refused_upload_is_logged_and_does_not_raise(fake_slack, client, caplog):
    fake_slack.failures["files.completeUploadExternal"] = [400]

    await post_reply(client, REPORT, channel="C1")

    assert "Slack refused a chart" in caplog.text
