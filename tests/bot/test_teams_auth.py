"""Teams authentication as production runs it, over real HTTP: the real app with an app id and
password, Teams activities signed the way the Bot Framework signs them, checked by the SDK against
signing keys it fetches from a fake of login.botframework.com; the replies go out with a token the
bot got from a fake of login.microsoftonline.com. Nothing leaves loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from config.settings import SettingsError, load_settings
from storage.repositories import Store
from tests.bot.fake_connector import FakeConnector
from tests.bot.fake_login import KEY_ID, WEBCHAT_KEY_ID, FakeLogin
from tests.bot.test_teams import BREAKAGES, NOT_ACTIVITIES, Teams, post_raw

APP_ID = "7b3f2a1e-0c4d-4e8f-9a6b-3c2d1e0f9a8b"
PASSWORD = "app-password-from-azure"
WELCOME = "Welcome, Ann Lee! You're now a member of this partnership."


@pytest.fixture(scope="session")
def login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLogin]:
    # One for the session: the SDK caches signing keys per metadata URL for a day, in the
    # process, so a fake with new keys at a reused URL would be answered from the old ones.
    fake = FakeLogin(tmp_path_factory.mktemp("login"))
    fake.start()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def stranger() -> rsa.RSAPrivateKey:
    """A key the fake does not publish."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def trust_login(login: FakeLogin, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake's own certificate, as an operator with a private CA would configure requests.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(login.ca_file))


@pytest.fixture
def production(login: FakeLogin, trust_login: None, make_settings):
    """Production settings with Teams credentials, the sign-in endpoints pointed at the fake."""
    return make_settings(
        env="production",
        teams_app_id=APP_ID,
        teams_app_password=PASSWORD,
        teams_openid_metadata_url=login.metadata_url,
        teams_login_url=login.login_url,
    )


@pytest.fixture
async def bot(production, serve_app, connector: FakeConnector) -> AsyncIterator[Teams]:
    """The app in production with Teams credentials, its sign-in endpoints pointed at the fake."""
    settings = production
    base = await serve_app(settings)
    async with aiohttp.ClientSession() as session:
        yield Teams(session, base, connector)


async def assert_nothing_changed(store: Store, connector: FakeConnector) -> None:
    async with store.unit() as uow:
        assert await uow.members.count() == 0
    assert connector.sent == []
    assert connector.updated == []


async def test_a_token_signed_by_the_bot_framework_is_processed_and_answered_with_its_own_token(
    bot: Teams, login: FakeLogin, connector: FakeConnector, store: Store
):
    asked_before = len(login.token_requests)
    token = login.sign(audience=APP_ID, service_url=connector.url)

    response = await bot.post(bot.message("me"), token=token)

    assert response.status in (200, 201)
    assert connector.texts()[0].startswith(WELCOME)
    assert connector.cards()[0].card_texts[0] == "Your profile"
    async with store.unit() as uow:
        assert await uow.members.count() == 1
    # The reply carries a token the fake Entra ID issued for this app's id and password, for
    # the Bot Connector's scope: the bot signed in as production does, on loopback.
    assert {sent.authorization for sent in connector.sent} <= {f"Bearer {t}" for t in login.issued}
    asked = login.token_requests[asked_before:]
    assert asked and {(r.client_id, r.scope, r.grant_type, r.had_secret) for r in asked} == {
        (APP_ID, "https://api.botframework.com/.default", "client_credentials", True)
    }


def _hs256(login: FakeLogin, service_url: str) -> str:
    # The classic confusion: HMAC "signed" with something public instead of the RSA key.
    claims = jwt.decode(
        login.sign(audience=APP_ID, service_url=service_url), options={"verify_signature": False}
    )
    secret = "a-shared-secret-anyone-could-pick"
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": KEY_ID})


def _unsigned(login: FakeLogin, service_url: str) -> str:
    signed = login.sign(audience=APP_ID, service_url=service_url)
    claims = jwt.decode(signed, options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none", headers={"kid": KEY_ID})


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda login, url, stranger: None, id="no-authorization-header"),
        pytest.param(lambda login, url, stranger: "", id="empty-token"),
        pytest.param(lambda login, url, stranger: "not-a-jwt", id="not-a-jwt"),
        pytest.param(
            lambda login, url, stranger: login.sign(
                audience=APP_ID, service_url=url, lifetime=-3600
            ),
            id="expired",
        ),
        pytest.param(
            lambda login, url, stranger: login.sign(
                audience="another-bots-app-id", service_url=url
            ),
            id="wrong-audience",
        ),
        pytest.param(
            lambda login, url, stranger: login.sign(
                audience=APP_ID, service_url=url, issuer="https://api.botframework.example"
            ),
            id="wrong-issuer",
        ),
        pytest.param(
            lambda login, url, stranger: login.sign(
                audience=APP_ID, service_url=url, key=stranger, kid="not-published"
            ),
            id="key-not-in-the-jwks",
        ),
        pytest.param(
            lambda login, url, stranger: login.sign(audience=APP_ID, service_url=url, key=stranger),
            id="published-key-id-but-another-key",
        ),
        pytest.param(
            lambda login, url, stranger: login.sign(
                audience=APP_ID, service_url=url, key=login.webchat_key, kid=WEBCHAT_KEY_ID
            ),
            id="key-not-endorsed-for-msteams",
        ),
        pytest.param(
            lambda login, url, stranger: login.sign(
                audience=APP_ID, service_url="https://smba.trafficmanager.net/emea/"
            ),
            id="serviceurl-claim-differs",
        ),
        pytest.param(lambda login, url, stranger: _hs256(login, url), id="hs256"),
        pytest.param(lambda login, url, stranger: _unsigned(login, url), id="alg-none"),
    ],
)
async def test_a_request_without_a_valid_bot_framework_token_gets_401_and_changes_nothing(
    bot: Teams, login: FakeLogin, connector: FakeConnector, store: Store, stranger, forge, caplog
):
    asked_before = len(login.token_requests)
    token = forge(login, connector.url, stranger)

    response = await bot.post(bot.message("me org Confidential Trust"), token=token)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    await assert_nothing_changed(store, connector)
    assert len(login.token_requests) == asked_before  # no turn, so no reply token either
    assert "Teams request refused" in caplog.text
    if token:
        assert token not in caplog.text


async def test_a_token_from_another_header_scheme_gets_401(bot: Teams, connector, store, login):
    token = login.sign(audience=APP_ID, service_url=connector.url)
    headers = {"Authorization": f"Basic {token}"}
    async with bot.session.post(bot.url, json=bot.message("me"), headers=headers) as response:
        assert response.status == 401
    await assert_nothing_changed(store, connector)


@pytest.mark.parametrize(("body", "headers", "status"), NOT_ACTIVITIES)
async def test_with_auth_on_what_is_not_an_activity_gets_a_4xx_and_saves_nothing(
    bot: Teams, connector, store, body, headers, status
):
    assert await post_raw(bot, body, headers) == status
    await assert_nothing_changed(store, connector)


@pytest.mark.parametrize("breakage", BREAKAGES)
async def test_with_auth_on_a_malformed_activity_gets_a_400_even_with_a_good_token(
    bot: Teams, login: FakeLogin, connector, store, breakage
):
    activity = bot.message("me")
    activity.update(breakage)
    token = login.sign(audience=APP_ID, service_url=connector.url)

    assert (await bot.post(activity, token=token)).status == 400
    await assert_nothing_changed(store, connector)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_signing_keys_out_of_reach_gets_503_and_changes_nothing(
    login: FakeLogin, trust_login: None, make_settings, serve_app, connector, store, caplog
):
    settings = make_settings(
        env="production",
        teams_app_id=APP_ID,
        teams_app_password=PASSWORD,
        teams_openid_metadata_url=f"https://127.0.0.1:{_closed_port()}/v1/.well-known/openid",
        teams_login_url=login.login_url,
    )
    base = await serve_app(settings)
    token = login.sign(audience=APP_ID, service_url=connector.url)

    async with aiohttp.ClientSession() as session:
        teams = Teams(session, base, connector)
        response = await teams.post(teams.message("me"), token=token)

    assert response.status == 503
    await assert_nothing_changed(store, connector)
    assert "cannot fetch the Bot Framework signing keys" in caplog.text


@pytest.mark.parametrize("variable", ["TEAMS_OPENID_METADATA_URL", "TEAMS_LOGIN_URL"])
def test_the_sign_in_endpoints_must_be_https(variable):
    with pytest.raises(SettingsError, match=f"PARTNERBOT_{variable}: .*https"):
        load_settings({f"PARTNERBOT_{variable}": "http://login.example/keys"})


async def test_a_token_that_passed_speaks_for_its_own_service_url_only(
    bot: Teams, login: FakeLogin, connector: FakeConnector, store: Store
):
    # Good tokens are remembered until they expire (bot/teams.py ReusedClients): the same token
    # on an activity naming another service URL is checked again, and refused.
    token = login.sign(audience=APP_ID, service_url=connector.url)
    assert (await bot.post(bot.message("help"), token=token)).status in (200, 201)
    assert (await bot.post(bot.message("me"), token=token)).status in (200, 201)
    answered = len(connector.sent)
    assert answered >= 2

    elsewhere = bot.message("me org Confidential Trust")
    elsewhere["serviceUrl"] = "https://smba.trafficmanager.net/emea/"
    response = await bot.post(elsewhere, token=token)

    assert response.status == 401
    assert len(connector.sent) == answered
    async with store.unit() as uow:
        assert await uow.organisations.all() == []


async def test_a_remembered_token_is_checked_again_once_it_expires(
    login: FakeLogin, production, connector: FakeConnector
):
    from bot.teams import ReusedClients, create_adapter, parse_activity

    settings = production
    now = [0.0]
    inner = create_adapter(settings).bot_framework_authentication._inner  # the SDK's own
    clients = ReusedClients(inner, clock=lambda: now[0])
    token = login.sign(audience=APP_ID, service_url=connector.url, lifetime=600)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    activity = parse_activity(Teams(None, "", connector).message("help"))  # type: ignore[arg-type]

    now[0] = expires - 60
    first = await clients.authenticate_request(activity, f"Bearer {token}")
    assert await clients.authenticate_request(activity, f"Bearer {token}") is first
    now[0] = expires + 1
    again = await clients.authenticate_request(activity, f"Bearer {token}")
    assert again is not first
    assert again.claims_identity.claims["aud"] == APP_ID
