"""Slack installed into several workspaces through OAuth, over real HTTP: a browser runs the
install (the app, then Slack's authorize page on the fake, then back to the app), the tokens
land encrypted in the database, each workspace's requests and proactive messages go with its own
token, and app_uninstalled / tokens_revoked take a workspace's tokens away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from dialogs.outbox import Kind, ToMember, queue
from dialogs.views import View
from storage.models import SlackBot, SlackInstallation, SlackOAuthState
from storage.outbox import Status
from storage.repositories import Store
from tests.bot.fake_slack import (
    BOT_USER_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET,
    FakeSlack,
    SlackSender,
    basic_auth,
)
from tests.bot.flows import posted_to, until
from tests.bot.test_logs import assert_nothing_secret, logs  # noqa: F401 (a fixture)
from tests.bot.test_slack import direct, envelope, slash

KEY = Fernet.generate_key().decode()
NOT_INSTALLED = "partnerbot is not installed in this Slack workspace any more"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    # No token exists until a workspace installs the app.
    fake = FakeSlack(users={"U1": "Aisha Khan", "U7": "Gus Hall", "U8": "Hana Ito"}, tokens={})
    await fake.start()
    yield fake
    await fake.close()


class Installed:
    """The app in production, Slack in the OAuth mode, its database, and a browser."""

    def __init__(self, base: str, fake: FakeSlack, store: Store) -> None:
        self.base = base
        self.fake = fake
        self.store = store
        self.slack = SlackSender(base + "/slack/events")

    def browser(self) -> aiohttp.ClientSession:
        # bolt's state cookie is Secure; the test's app is served on http://127.0.0.1.
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[self.base])
        return aiohttp.ClientSession(cookie_jar=jar)

    async def install(self, team_id: str) -> str:
        """An admin of ``team_id`` installs the app; the page they end on."""
        self.fake.installing = team_id
        async with self.browser() as browser, browser.get(self.base + "/slack/install") as page:
            assert page.status == 200, await page.text()
            assert page.url.path == "/slack/oauth_redirect"
            return await page.text()

    async def begin(self, browser: aiohttp.ClientSession) -> str:
        """The first step only: the state the app issued on its way to Slack."""
        async with browser.get(self.base + "/slack/install", allow_redirects=False) as page:
            assert page.status == 302
            location = urlsplit(page.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == self.fake.authorize_url
        return parse_qs(location.query)["state"][0]

    async def rows(self, model: Any) -> list[Any]:
        async with self.store.unit() as uow:
            return list(await uow.session.scalars(select(model).order_by(model.id)))


def in_team(payload: dict[str, Any], team_id: str) -> dict[str, Any]:
    """A slash command's fields or an Events API envelope, from workspace ``team_id``."""
    payload = {**payload, "team_id": team_id}
    if "authorizations" in payload:
        payload["authorizations"] = [{**payload["authorizations"][0], "team_id": team_id}]
    return payload


def bearer(fake: FakeSlack, team_id: str) -> str:
    return f"Bearer {fake.token_of(team_id)}"


@pytest.fixture
async def app(
    fake_slack: FakeSlack,
    make_settings: Callable[..., Any],
    serve_app: Callable[..., Any],
    store: Store,
) -> Installed:
    settings = make_settings(
        env="production",
        admins="U1",
        slack_signing_secret=SECRET,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_token_key=KEY,
        slack_api_url=fake_slack.api_url,
        slack_authorize_url=fake_slack.authorize_url,
        dispatch_interval="0.1",
    )
    base = await serve_app(settings)
    fake_slack.redirect_url = base + "/slack/oauth_redirect"
    return Installed(base, fake_slack, store)


async def test_an_install_stores_the_workspace_token_encrypted_and_its_requests_use_it(app):
    fake = app.fake
    page = await app.install("T1")
    assert "Thank you!" in page
    (authorize,) = fake.calls_to("oauth/v2/authorize")
    assert authorize.body["client_id"] == CLIENT_ID
    assert {"chat:write", "commands", "im:write"} <= set(authorize.body["scope"].split(","))
    (access,) = fake.calls_to("oauth.v2.access")
    assert access.body["code"].startswith("code-T1-")
    assert access.authorization == basic_auth(CLIENT_ID, CLIENT_SECRET)

    token = fake.token_of("T1")
    (bot,) = await app.rows(SlackBot)
    (installation,) = await app.rows(SlackInstallation)
    assert (bot.team_id, bot.client_id, bot.bot_user_id) == ("T1", CLIENT_ID, BOT_USER_ID)
    for stored in (bot.bot_token, installation.bot_token):
        assert token not in stored and "xoxb" not in stored
        assert Fernet(KEY.encode()).decrypt(stored.encode()).decode() == token
    assert installation.installed_at.tzinfo is not None

    # A slash command and a DM from that workspace are answered with its token.
    await app.slack.command(in_team(slash(fake, "help", response="r1"), "T1"))
    (reply,) = await fake.wait_for("response/r1")
    assert "help" in str(reply.body).lower()
    assert {c.authorization for c in fake.calls_to("users.info")} == {bearer(fake, "T1")}
    await app.slack.event(in_team(envelope(direct("me", ts="1.1"), event_id="Ev1"), "T1"))
    posts = await until(lambda: posted_to(fake, "D1"))
    assert {post.authorization for post in posts} == {bearer(fake, "T1")}


async def test_two_workspaces_are_each_answered_with_their_own_token(app):
    fake = app.fake
    await app.install("T1")
    await app.install("T2")
    assert fake.token_of("T1") != fake.token_of("T2")
    assert sorted(bot.team_id for bot in await app.rows(SlackBot)) == ["T1", "T2"]
    await app.slack.event(
        in_team(envelope(direct("me", ts="1.2", user="U7", channel="D7"), event_id="Ev2"), "T2")
    )
    await app.slack.event(in_team(envelope(direct("me", ts="1.3"), event_id="Ev3"), "T1"))
    to_b = await until(lambda: posted_to(fake, "D7"))
    to_a = await until(lambda: posted_to(fake, "D1"))
    assert {post.authorization for post in to_b} == {bearer(fake, "T2")}
    assert {post.authorization for post in to_a} == {bearer(fake, "T1")}


async def test_a_redirect_with_a_bad_reused_or_expired_state_installs_nothing(app):
    fake = app.fake

    async def come_back(state: str, *, cookie: str | None, code: str = "code-x") -> int:
        """Slack's redirect to the app, from a browser holding ``cookie`` (bolt's state)."""
        headers = {"Cookie": f"slack-app-oauth-state={cookie}"} if cookie else {}
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser,
            browser.get(
                app.base + "/slack/oauth_redirect",
                params={"code": code, "state": state},
                headers=headers,
            ) as page,
        ):
            return page.status

    # A state the app never issued, the cookie forged to match it.
    assert await come_back("forged", cookie="forged") == 401
    async with app.browser() as browser:
        state = await app.begin(browser)
        fresh = await app.begin(browser)
    # A real state, from another browser than the one that began (no cookie).
    assert await come_back(state, cookie=None) == 400
    # A real state past its ten minutes.
    async with app.store.unit() as uow:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await uow.session.execute(
            update(SlackOAuthState).where(SlackOAuthState.state == state).values(expire_at=past)
        )
    assert await come_back(state, cookie=state) == 401
    # A real state works once: the second time is refused.
    fake._codes["code-T1-once"] = "T1"
    assert await come_back(fresh, cookie=fresh, code="code-T1-once") == 200
    assert await come_back(fresh, cookie=fresh, code="code-T1-once") == 401
    assert len(fake.calls_to("oauth.v2.access")) == 1  # only the good one reached Slack
    assert [bot.team_id for bot in await app.rows(SlackBot)] == ["T1"]


async def test_app_uninstalled_deletes_that_workspace_and_its_members_are_told(app):
    fake = app.fake
    await app.install("T1")
    await app.install("T2")
    uninstalled = in_team(envelope({"type": "app_uninstalled"}, event_id="EvU"), "T2")
    fake.revoke("T2")
    status, _ = await app.slack.event(uninstalled)
    assert status == 200
    assert [bot.team_id for bot in await app.rows(SlackBot)] == ["T1"]
    assert [row.team_id for row in await app.rows(SlackInstallation)] == ["T1"]

    calls = len(fake.calls)
    await app.slack.command(in_team(slash(fake, "help", response="r2", user="U7"), "T2"))
    (refused,) = await fake.wait_for("response/r2")
    assert NOT_INSTALLED in refused.body["text"]
    assert refused.body["text"].endswith("/slack/install")
    # Nothing was asked of the Web API for that workspace: it has no token to ask with.
    assert [c.method for c in fake.calls[calls:]] == ["response/r2"]
    # The other workspace is untouched.
    await app.slack.command(in_team(slash(fake, "help", response="r3"), "T1"))
    (answered,) = await fake.wait_for("response/r3")
    assert NOT_INSTALLED not in str(answered.body)


async def test_tokens_revoked_deletes_the_bot_token_and_the_workspace_is_refused(app):
    fake = app.fake
    await app.install("T2")
    revoked = envelope(
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BOT_USER_ID]}}, event_id="EvR"
    )
    fake.revoke("T2")
    status, _ = await app.slack.event(in_team(revoked, "T2"))
    assert status == 200
    assert await app.rows(SlackBot) == []
    (installation,) = await app.rows(SlackInstallation)
    assert installation.bot_token is None and installation.bot_refresh_token is None
    await app.slack.command(in_team(slash(fake, "help", response="r4", user="U7"), "T2"))
    (refused,) = await fake.wait_for("response/r4")
    assert NOT_INSTALLED in refused.body["text"]


async def outcome_of(store: Store, key: str) -> Any:
    async def settled() -> Any:
        async with store.unit() as uow:
            row = await uow.outbox.by_key(key)
        return row if row.status in (Status.SENT, Status.FAILED) else None

    for _ in range(200):  # the dispatcher wakes every 0.1 s
        row = await settled()
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox row {key} was never settled")


async def member_of(store: Store, team_id: str, user_id: str) -> int:
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", team_id, user_id)
        assert identity is not None
        return identity.member_id


async def notify(store: Store, member_id: int, key: str, text: str) -> None:
    now = datetime.now(UTC)
    async with store.unit() as uow:
        await queue(
            uow,
            key=key,
            kind=Kind.NOTICE,
            to=ToMember(member_id),
            view=View(text),
            due_at=now,
            now=now,
        )


async def test_a_proactive_message_goes_with_its_workspaces_token_until_it_uninstalls(app):
    fake = app.fake
    await app.install("T1")
    await app.install("T2")
    # Gus (workspace B) and Aisha (workspace A) each talk to the bot once.
    await app.slack.event(
        in_team(envelope(direct("me", ts="2.1", user="U7", channel="D7"), event_id="Ev4"), "T2")
    )
    await app.slack.event(in_team(envelope(direct("me", ts="2.2"), event_id="Ev5"), "T1"))
    await until(lambda: posted_to(fake, "D7") and posted_to(fake, "D1"))
    gus = await member_of(app.store, "T2", "U7")

    await notify(app.store, gus, "notice:gus:1", "The Huntly forum moves to Room 2")
    assert (await outcome_of(app.store, "notice:gus:1")).status == Status.SENT
    (notice,) = [c for c in posted_to(fake, "D7") if c.body["text"].startswith("The Huntly")]
    assert notice.authorization == bearer(fake, "T2")

    # Workspace B uninstalls: the next message to Gus is not retried forever but marks him
    # unreachable there (the sender's remembered token is refused, the installation is gone).
    token = fake.token_of("T2")
    fake.revoke("T2")
    await app.slack.event(in_team(envelope({"type": "app_uninstalled"}, event_id="EvU2"), "T2"))
    await notify(app.store, gus, "notice:gus:2", "The Huntly forum is cancelled")
    failed = await outcome_of(app.store, "notice:gus:2")
    assert failed.status == Status.FAILED
    assert "not installed in this Slack workspace" in failed.last_error
    async with app.store.unit() as uow:
        identity = await uow.members.identity("slack", "T2", "U7")
        assert identity.unreachable_at is not None
    # Its one try was with the token remembered from before, which Slack refused.
    tries = [c for c in posted_to(fake, "D7") if "cancelled" in c.body["text"]]
    assert [c.authorization for c in tries] == [f"Bearer {token}"]
    assert token in fake.revoked


async def test_installing_and_using_workspaces_logs_no_token_or_secret(app, logs):  # noqa: F811
    fake = app.fake
    await app.install("T1")
    await app.install("T2")
    await app.slack.command(in_team(slash(fake, "help", response="r5", user="U7"), "T2"))
    await fake.wait_for("response/r5")
    tokens = (fake.token_of("T1"), fake.token_of("T2"))
    assert_nothing_secret(logs, SECRET, CLIENT_SECRET, KEY, *tokens)
