"""A whole check-in over real HTTP on each platform: the coordinator opens it, the delivery engine
invites the member privately, the member answers on the platform's own card (Adaptive Card
Action.Submit in Teams, Block Kit state.values in Slack), the answer is saved, the coordinator
follows up and downloads the report from the link the bot gives."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import PIL.Image
import pytest
from sqlalchemy import select

from storage.models import Response
from tests.bot.fake_connector import FakeConnector
from tests.bot.fake_slack import FakeSlack
from tests.bot.flows import posted_to, until
from tests.bot.test_forms import slack_state, teams_submit
from tests.bot.test_slack import ADMIN, button_press, direct, envelope, slash
from tests.bot.test_teams import JANE, Teams

WELL = "Joint planning has started as part of reimagining the LLCPs."
EVIDENCE = "61 partners came to the introductory session."


def closes() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).date().isoformat()


async def saved(store) -> list[tuple[int, int | None, dict]]:
    async with store.unit() as uow:
        rows = (await uow.session.scalars(select(Response).order_by(Response.question))).all()
        return [(row.question, row.rating, dict(row.texts or {})) for row in rows]


async def fetch(base: str, text: str) -> tuple[int, str, str]:
    token = re.search(r"/exports/([\w-]+)", text)
    assert token, text
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/exports/{token.group(1)}") as response,
    ):
        return (
            response.status,
            response.headers.get("Content-Disposition", ""),
            await response.text(),
        )


# -- Slack ------------------------------------------------------------------------------------


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", "U2": "Ben Ortiz"})
    await fake.start()
    yield fake
    await fake.close()


async def test_a_slack_check_in_from_start_to_report(slack_app, fake_slack, store):
    slack, base = slack_app
    await slack.command(slash(fake_slack, "area add Marr", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)
    await slack.event(
        envelope(direct("me area Marr", ts="1.1", user="U2", channel="D2"), event_id="E1")
    )
    await until(lambda: posted_to(fake_slack, "D2"))

    await slack.command(
        slash(
            fake_slack,
            f"checkin start qi-3.2 questions=1,3 areas=Marr closes={closes()}",
            response="r2",
        )
    )
    (opened,) = await fake_slack.wait_for("response/r2")
    assert any("Inviting 1 member privately." in t for t in opened.texts()), opened.texts()

    # The delivery engine brings the invitation to Ben's DM, with a Start button.
    invite = await until(
        lambda: next(
            (c for c in posted_to(fake_slack, "D2") if "Partnership check-in" in c.body["text"]),
            None,
        )
    )
    assert invite.buttons() == [("Start", "checkin")]
    before = len(posted_to(fake_slack, "D2"))
    await slack.interaction(
        button_press(
            fake_slack, "checkin", response="r3", user="U2", channel_id="D2", ephemeral=False
        )
    )
    card = (await until(lambda: posted_to(fake_slack, "D2")[before:]))[0]
    assert card.body["text"].startswith("Question 1 of 2")
    assert [b["element"]["action_id"] for b in card.blocks if b["type"] == "input"] == [
        "rating",
        "working_well",
        "evidence",
        "priorities",
    ]
    assert ("Save and next", "checkin answer 1 1") in card.buttons()

    # Ben picks 5 and writes two of the three reflections, then presses Save.
    before = len(posted_to(fake_slack, "D2"))
    press = button_press(
        fake_slack, "checkin answer 1 1", response="r4", user="U2", channel_id="D2", ephemeral=False
    )
    press["state"] = slack_state(
        card.blocks, {"rating": "5", "working_well": WELL, "evidence": EVIDENCE}
    )
    assert await slack.interaction(press) == (200, "")
    # One message: what was saved, then the next question.
    (nxt,) = await until(lambda: posted_to(fake_slack, "D2")[before:])
    assert nxt.body["text"].startswith("Saved question 1. Question 2 of 2")
    assert await saved(store) == [(1, 5, {"working_well": WELL, "evidence": EVIDENCE})]

    # Question 3, rating only, on the card the bot sent next.
    before = len(posted_to(fake_slack, "D2"))
    press = button_press(
        fake_slack, "checkin answer 1 3", response="r5", user="U2", channel_id="D2", ephemeral=False
    )
    (question_3,) = [c for c in posted_to(fake_slack, "D2") if "Question 2 of 2" in c.body["text"]]
    press["state"] = slack_state(question_3.blocks, {"rating": "2"})
    await slack.interaction(press)
    done = await until(lambda: posted_to(fake_slack, "D2")[before:])
    texts = [t for call in done for t in call.texts()]
    assert "Saved question 3." in texts and any(
        "ALL 2 QUESTIONS DONE" in t.upper() for t in texts
    ), texts
    assert [(q, r) for q, r, _ in await saved(store)] == [(1, 5), (3, 2)]

    await slack.command(slash(fake_slack, "checkin status", response="r6"))
    (status,) = await fake_slack.wait_for("response/r6")
    assert any("1 of 1 members done (100%)" in t for t in status.texts()), status.texts()

    # The report, asked for in the coordinator's DM, comes with a download link.
    await slack.event(
        envelope(direct("checkin report format=md", ts="2.1", channel="D1"), event_id="E2")
    )
    link = await until(
        lambda: next(
            (c for c in posted_to(fake_slack, "D1") if "/exports/" in c.body["text"]), None
        )
    )
    (button,) = [e for b in link.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Download MD"
    status_code, disposition, markdown = await fetch(base, button["url"])
    assert status_code == 200
    assert disposition == 'attachment; filename="qi-3.2-checkin-1.md"'
    marr = markdown.split("## Marr: challenge questions")[1]
    assert WELL in marr and EVIDENCE in marr and "Ben Ortiz" in marr

    assert (await fetch(base, "/exports/not-a-real-token"))[0] == 404


async def test_a_slack_chart_asked_for_in_a_channel_reaches_the_dm_as_a_file(slack_app, fake_slack):
    slack, _ = slack_app
    await slack.command(slash(fake_slack, "area add Marr", response="r1"))
    await fake_slack.wait_for("response/r1", count=2)
    await slack.command(slash(fake_slack, "me area Marr", response="r2"))
    await fake_slack.wait_for("response/r2")
    await slack.command(
        slash(fake_slack, f"checkin start qi-3.2 questions=1,3 closes={closes()}", response="r3")
    )
    await fake_slack.wait_for("response/r3")
    for n, text in enumerate(("checkin", "5", WELL, EVIDENCE, "-")):
        await slack.event(envelope(direct(text, ts=f"3.{n}", channel="D1"), event_id=f"E3{n}"))
        await until(lambda n=n: len(posted_to(fake_slack, "D1")) > n)

    # Asked for in a channel: the reply says it went privately; the delivery engine posts it
    # to the DM and uploads the chart there (files_upload_v2).
    await slack.command(slash(fake_slack, "checkin report format=png", response="r4"))
    # Drawing the chart takes a while on a busy machine: wait longer than for a text reply.
    (note,) = await fake_slack.wait_for("response/r4", within=30)
    assert any("sent it to you privately" in t for t in note.texts()), note.texts()
    (done,) = await fake_slack.wait_for("files.completeUploadExternal", within=30)
    assert done.body["channel_id"] == "D1"
    (chart,) = json.loads(done.body["files"])
    assert chart["title"] == "QI 3.2 Partnership working: ratings by area and question"
    (upload,) = [c for c in fake_slack.calls if c.method == f"upload/{chart['id']}"]
    assert upload.body["content"].startswith(b"\x89PNG\r\n\x1a\n")
    (post,) = [c for c in posted_to(fake_slack, "D1") if "qi-3.2-checkin-1.png" in c.body["text"]]
    assert fake_slack.calls.index(post) < fake_slack.calls.index(done)  # the message first


# -- Teams ------------------------------------------------------------------------------------


@pytest.fixture
async def teams(make_settings, serve_app, connector) -> AsyncIterator[tuple[Teams, str]]:
    base = await serve_app(make_settings(dispatch_interval="0.1"))
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector), base


JANE_CHAT = "a:1personal-chat-with-jane"


def personal(conversation_id: str) -> dict[str, str]:
    return {"conversationType": "personal", "id": conversation_id, "tenantId": "t1"}


def sent_to(connector: FakeConnector, conversation_id: str) -> list[Any]:
    return [s for s in connector.sent if s.conversation_id == conversation_id]


async def test_a_teams_check_in_from_start_to_report(teams, connector, store):
    teams, base = teams
    await teams.say("area add Marr")  # Ann, first to arrive in development, coordinates
    await teams.say("me area Marr", sender=JANE, conversation=personal(JANE_CHAT))
    await until(lambda: sent_to(connector, JANE_CHAT))
    await teams.say(f"checkin start qi-3.2 questions=1,3 areas=Marr closes={closes()}")

    invite = await until(
        lambda: next(
            (
                s
                for s in sent_to(connector, JANE_CHAT)
                if s.card and "Partnership check-in" in " ".join(s.card_texts)
            ),
            None,
        )
    )
    assert [title for title, _ in invite.buttons] == ["Start"]
    before = len(sent_to(connector, JANE_CHAT))
    start = teams_submit(invite.card, "Start", {})
    await teams.post(
        teams.activity("message", sender=JANE, conversation=personal(JANE_CHAT), value=start)
    )
    card = (await until(lambda: sent_to(connector, JANE_CHAT)[before:]))[0]
    inputs = [e["id"] for e in card.card["body"] if e["type"].startswith("Input.")]
    assert inputs == ["rating", "working_well", "evidence", "priorities"]
    choice = next(e for e in card.card["body"] if e.get("id") == "rating")
    assert choice["choices"][0]["value"] == "6"

    before = len(sent_to(connector, JANE_CHAT))
    value = teams_submit(card.card, "Save and next", {"rating": "4", "working_well": WELL})
    await teams.post(
        teams.activity("message", sender=JANE, conversation=personal(JANE_CHAT), value=value)
    )
    nxt = (await until(lambda: sent_to(connector, JANE_CHAT)[before:]))[0]
    assert "Saved question 1." in " ".join([nxt.text, *nxt.card_texts])
    assert await saved(store) == [(1, 4, {"working_well": WELL})]
    # The same press again (a double click) saves nothing more.
    await teams.post(
        teams.activity("message", sender=JANE, conversation=personal(JANE_CHAT), value=value)
    )
    assert await saved(store) == [(1, 4, {"working_well": WELL})]

    await teams.say("checkin report format=csv")

    def download_action() -> dict | None:
        for sent in connector.sent:
            for element in (sent.card or {}).get("body", ()):
                for action in element.get("actions", ()):
                    if action["type"] == "Action.OpenUrl":
                        return action
        return None

    action = await until(download_action)
    assert action["title"] == "Download CSV"
    status_code, disposition, body = await fetch(base, action["url"])
    assert status_code == 200
    assert disposition == 'attachment; filename="qi-3.2-checkin-1.csv"'
    assert WELL in body and "Jane Doe" in body


async def test_a_teams_chart_comes_as_an_inline_png_attachment_beside_the_card(teams, connector):
    teams, _ = teams
    await teams.say("area add Marr")
    await teams.say("me area Marr")
    await teams.say(f"checkin start qi-3.2 questions=1,3 closes={closes()}")
    for text in ("checkin", "5", WELL, EVIDENCE, "-"):
        before = len(connector.sent)
        await teams.say(text)
        await until(lambda before=before: len(connector.sent) > before)

    await teams.say("checkin report format=png")

    def with_picture() -> Any:
        for sent in connector.sent:
            for attachment in sent.activity.get("attachments") or ():
                if attachment.get("contentType") == "image/png":
                    return sent, attachment
        return None

    # Drawing the chart takes a while on a busy machine: wait longer than for a text reply.
    sent, picture = await until(with_picture, within=30)
    assert picture["name"] == "qi-3-2-partnership-working-ratings-by-area-and-question.png"
    prefix = "data:image/png;base64,"
    assert picture["contentUrl"].startswith(prefix)
    data = base64.b64decode(picture["contentUrl"].removeprefix(prefix), validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with PIL.Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG" and image.width > 300 and image.height > 200
        # A drawn chart: many colours (bars, text, grid), not a blank or one-colour image.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or ()) > 10
    # The card beside it says what it is and offers the download; no data URI inside it.
    assert sent.card is not None and "data:" not in json.dumps(sent.card)
    texts = " ".join(sent.card_texts)
    assert "QI 3.2 Partnership working: ratings by area and question" in texts
    assert "qi-3.2-checkin-1.png is ready" in texts
    assert [title for title, _ in sent.buttons] == ["Download PNG"]
