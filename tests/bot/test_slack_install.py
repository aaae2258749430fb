"""The installation store's encryption on the real database (SQLite and PostgreSQL): what is
stored, rotating the key, and a key that no longer opens the tokens."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_install import (
    DatabaseInstallationStore,
    TokenCipher,
    UnreadableToken,
    WorkspaceTokens,
)
from bot.slack_send import SlackSender
from dialogs.views import View
from scheduler.delivery import Destination, Rejected, Unreachable

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOKEN = "xoxb-T1-0123456789-abcdefSECRET"


def installations(store, keys: str) -> DatabaseInstallationStore:
    return DatabaseInstallationStore(store, client_id="1111.2222", cipher=TokenCipher(keys))


def installation() -> Installation:
    return Installation(
        app_id="A1",
        team_id="T1",
        team_name="Partners",
        bot_token=TOKEN,
        bot_id="BBOT",
        bot_user_id="UBOT",
        bot_scopes="chat:write,commands",
        user_id="U1",
        user_token="xoxp-user-SECRET",
    )


async def test_tokens_are_found_again_through_a_rotated_key_and_never_stored_plain(store):
    await installations(store, OLD).async_save(installation())
    rotated = installations(store, f"{NEW},{OLD}")
    bot = await rotated.async_find_bot(enterprise_id=None, team_id="T1")
    assert (
        bot is not None and bot.bot_token == TOKEN and bot.bot_scopes == ["chat:write", "commands"]
    )
    found = await rotated.async_find_installation(enterprise_id=None, team_id="T1")
    assert found is not None and found.user_token == "xoxp-user-SECRET"
    assert found.installed_at == pytest.approx(installation().installed_at, abs=5)
    # Saved again (a token refreshed), it is encrypted with the new key alone.
    await rotated.async_save_bot(bot)
    assert await installations(store, NEW).async_find_bot(enterprise_id=None, team_id="T1")
    async with store.unit() as uow:
        row = await uow.slack_installs.latest_installation(
            client_id="1111.2222", enterprise_id=None, team_id="T1"
        )
    assert "SECRET" not in (row.bot_token + row.user_token)


async def test_a_key_that_does_not_open_the_tokens_is_named_and_sends_nothing(store, caplog):
    await installations(store, OLD).async_save(installation())
    wrong = installations(store, NEW)
    with pytest.raises(UnreadableToken):
        await wrong.async_find_bot(enterprise_id=None, team_id="T1")
    assert "PARTNERBOT_SLACK_TOKEN_KEY" in caplog.text
    # Loopback, port 9: nothing listens, and nothing is asked for.
    sender = SlackSender(
        AsyncWebClient(base_url="http://127.0.0.1:9/api/"), tokens=WorkspaceTokens(wrong)
    )
    destination = Destination(platform="slack", tenant_id="T1", user_id="U7", dm_channel_id="D7")
    caplog.set_level(logging.DEBUG)
    outcome = await sender.send(destination, View("hello"))
    assert isinstance(outcome, Rejected) and "PARTNERBOT_SLACK_TOKEN_KEY" in outcome.error
    # A workspace with no installation at all is unreachable, not retried.
    other = Destination(platform="slack", tenant_id="T9", user_id="U8", dm_channel_id="D8")
    assert isinstance(await sender.send(other, View("hello")), Unreachable)
    assert TOKEN not in caplog.text
