"""Installing the Slack app into several workspaces through Slack OAuth.

Bolt runs the flow (``GET /slack/install`` sends the browser to Slack's authorize page with a
state, ``GET /slack/oauth_redirect`` exchanges the code with ``oauth.v2.access``) and resolves
each request's bot token from the installation store. The stores here keep bolt's installations,
bot tokens and OAuth states in our own database (storage/slack_installs.py, the tables of
slack_sdk's SQLAlchemy stores), with every token encrypted (Fernet, the key from
PARTNERBOT_SLACK_TOKEN_KEY) before it is written and decrypted only when read back.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_manifest import BOT_SCOPES, OAUTH_REDIRECT_PATH
from config.settings import Settings
from storage.models import SlackBot, SlackInstallation, SlackWorkspaceBot
from storage.repositories import Store

logger = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
STATE_SECONDS = 600  # an installation begun is finished within 10 minutes, or begun again
# Of an installation's columns, the ones that hold a secret: only their ciphertext is stored.
SEALED = (
    "bot_token",
    "bot_refresh_token",
    "user_token",
    "user_refresh_token",
    "incoming_webhook_url",
)


class UnreadableToken(Exception):
    """A stored token does not decrypt with PARTNERBOT_SLACK_TOKEN_KEY (the key was changed
    without keeping the old one beside it)."""


class TokenCipher:
    """Fernet with one key or several (comma-separated): the first encrypts, any decrypts, so
    a key is rotated by putting the new one first and keeping the old one until every token
    has been saved again (a reinstall, a token refresh)."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(key.strip()) for key in keys.split(",")])

    def seal(self, token: str | None) -> str | None:
        if token is None:
            return None
        return self._fernet.encrypt(token.encode()).decode("ascii")

    def open(self, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as error:
            raise UnreadableToken(
                "a stored Slack token does not decrypt with PARTNERBOT_SLACK_TOKEN_KEY"
            ) from error


class DatabaseInstallationStore(AsyncInstallationStore):
    """bolt's installation store on our database, tokens encrypted at rest. The same queries
    as slack_sdk's AsyncSQLAlchemyInstallationStore (the latest row of a workspace wins)."""

    def __init__(self, store: Store, *, client_id: str, cipher: TokenCipher) -> None:
        self._store = store
        self._client_id = client_id
        self._cipher = cipher

    @property
    def logger(self) -> logging.Logger:
        return logger

    def _row(self, values: dict[str, Any]) -> dict[str, Any]:
        row = {**values, "client_id": self._client_id}
        for column in SEALED:
            if column in row:
                row[column] = self._cipher.seal(row[column])
        return row

    async def async_save(self, installation: Installation) -> None:
        async with self._store.unit() as uow:
            await uow.slack_installs.save_installation(self._row(installation.to_dict()))
            await uow.slack_installs.save_bot(self._row(installation.to_bot().to_dict()))
        logger.info("Slack app installed in workspace %s", installation.team_id)

    async def async_save_bot(self, bot: Bot) -> None:
        async with self._store.unit() as uow:
            await uow.slack_installs.save_bot(self._row(bot.to_dict()))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        if is_enterprise_install:
            team_id = None
        async with self._store.unit() as uow:
            row = await uow.slack_installs.latest_bot(
                client_id=self._client_id, enterprise_id=enterprise_id, team_id=team_id
            )
        if row is None:
            return None
        try:
            return self._bot(row)
        except UnreadableToken as error:
            # bolt takes any error here for "not installed" and says so only at INFO.
            logger.error("%s (Slack workspace %s)", error, team_id)
            raise

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if is_enterprise_install:
            team_id = None
        async with self._store.unit() as uow:
            row = await uow.slack_installs.latest_installation(
                client_id=self._client_id,
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
            )
            bot = None
            if row is not None and (user_id is not None or row.bot_token is None):
                # Another person's installation, or one whose bot token went: the workspace's
                # latest bot token is the one to use (slack_sdk does the same).
                bot = await uow.slack_installs.latest_bot(
                    client_id=self._client_id, enterprise_id=enterprise_id, team_id=team_id
                )
        if row is None:
            return None
        installation = self._installation(row)
        if bot is not None:
            latest = self._bot(bot)
            installation.bot_id = latest.bot_id
            installation.bot_user_id = latest.bot_user_id
            installation.bot_token = latest.bot_token
            installation.bot_scopes = latest.bot_scopes
            installation.bot_refresh_token = latest.bot_refresh_token
            installation.bot_token_expires_at = latest.bot_token_expires_at
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self._store.unit() as uow:
            deleted = await uow.slack_installs.delete_bots(
                client_id=self._client_id, enterprise_id=enterprise_id, team_id=team_id
            )
        logger.info("Slack bot tokens of workspace %s deleted (%d)", team_id, deleted)

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        async with self._store.unit() as uow:
            deleted = await uow.slack_installs.delete_installations(
                client_id=self._client_id,
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
            )
        logger.info("Slack installations of workspace %s deleted (%d)", team_id, deleted)

    def _bot(self, row: SlackBot) -> Bot:
        return Bot(**self._opened(row))

    def _installation(self, row: SlackInstallation) -> Installation:
        return Installation(**self._opened(row))

    def _opened(self, row: SlackWorkspaceBot) -> dict[str, Any]:
        """A row as the keyword arguments of slack_sdk's Bot or Installation (the columns are
        theirs, bar our row id and client id), its tokens decrypted."""
        values = {
            column.key: getattr(row, column.key)
            for column in row.__table__.columns  # type: ignore[attr-defined]
            if column.key not in ("id", "client_id")
        }
        for column in SEALED:
            if column in values:
                values[column] = self._cipher.open(values[column])
        for column in ("bot_scopes", "user_scopes"):
            if column in values:
                values[column] = values[column] or ""
        return values


class DatabaseStateStore(AsyncOAuthStateStore):
    """OAuth states in our database, so the redirect may reach another replica than the one
    that began the installation."""

    def __init__(self, store: Store, *, seconds: int = STATE_SECONDS) -> None:
        self._store = store
        self._seconds = seconds

    @property
    def logger(self) -> logging.Logger:
        return logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self._store.unit() as uow:
            await uow.slack_installs.issue_state(
                state, expire_at=now + timedelta(seconds=self._seconds), now=now
            )
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        async with self._store.unit() as uow:
            return await uow.slack_installs.consume_state(state, now=datetime.now(UTC))


class WorkspaceTokens:
    """Each workspace's bot token for proactive sending, remembered for a minute so a fan-out
    to a workspace's members reads (and decrypts) it once, not once per message."""

    def __init__(
        self, installations: AsyncInstallationStore, *, ttl: float = 60.0, size: int = 1024
    ) -> None:
        self._installations = installations
        self._ttl = ttl
        self._size = size
        self._tokens: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def of(self, team_id: str) -> str | None:
        """The workspace's bot token; None when the app is not installed there (any more)."""
        now = time.monotonic()
        cached = self._tokens.get(team_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        bot = await self._installations.async_find_bot(enterprise_id=None, team_id=team_id)
        token = bot.bot_token if bot is not None else None
        if token is None:
            # Not remembered: an installation made a moment later is used at once.
            self._tokens.pop(team_id, None)
            return None
        self._tokens[team_id] = (now + self._ttl, token)
        self._tokens.move_to_end(team_id)
        while len(self._tokens) > self._size:
            self._tokens.popitem(last=False)
        return token

    def forget(self, team_id: str) -> None:
        self._tokens.pop(team_id, None)


def installation_store(settings: Settings, store: Store) -> DatabaseInstallationStore:
    return DatabaseInstallationStore(
        store, client_id=settings.slack_client_id, cipher=TokenCipher(settings.slack_token_key)
    )


def oauth_options(settings: Settings, store: Store, client: AsyncWebClient) -> dict[str, Any]:
    """What AsyncApp needs for the OAuth mode: the flow's settings, and an authorize that reads
    only bot tokens (the app asks for no user scopes) and keeps auth.test's answer per token, so
    a request costs one indexed read, not a Web API call too."""
    installations = installation_store(settings, store)
    # Slack checks that the redirect_uri sent matches the app's; without a public URL, none is
    # sent and Slack uses the one configured in the app (the manifest's).
    redirect_uri = settings.base_url + OAUTH_REDIRECT_PATH if settings.public_url else None
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=OAUTH_REDIRECT_PATH,
        # Straight to Slack's authorize page: the install link is what an admin is sent.
        install_page_rendering_enabled=False,
        authorization_url=settings.slack_authorize_url,
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=DatabaseStateStore(store),
        state_expiration_seconds=STATE_SECONDS,
        logger=logger,
    )
    authorize = AsyncInstallationStoreAuthorize(
        logger=logger,
        installation_store=installations,
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        bot_only=True,
        cache_enabled=True,
        client=client,
    )
    return {
        "oauth_settings": oauth_settings,
        "authorize": authorize,
        # What a member of a workspace without an installation (uninstalled, tokens revoked)
        # is told instead of an answer.
        "user_facing_authorize_error_message": not_installed(settings),
    }


def not_installed(settings: Settings) -> str:
    return (
        "partnerbot is not installed in this Slack workspace any more. A workspace admin can "
        f"add it again at {settings.base_url}{INSTALL_PATH}"
    )
