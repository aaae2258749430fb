"""Slack installations and OAuth states as rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.models import SlackBot, SlackInstallation

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def bot_row(team_id: str, token: str, *, at: datetime = NOW, client_id: str = "C1") -> dict:
    return {
        "client_id": client_id,
        "app_id": "A1",
        "enterprise_id": None,
        "team_id": team_id,
        "team_name": team_id,
        "bot_token": token,
        "bot_id": "B1",
        "bot_user_id": "UBOT",
        "bot_scopes": "chat:write",
        "is_enterprise_install": False,
        "installed_at": at,
        "unknown_custom_value": "ignored",
    }


async def test_the_latest_bot_of_a_workspace_is_found_and_only_its_own(store):
    async with store.unit() as uow:
        repo = uow.slack_installs
        await repo.save_bot(bot_row("T1", "sealed-1"))
        await repo.save_bot(bot_row("T1", "sealed-2", at=NOW + timedelta(hours=1)))
        await repo.save_bot(bot_row("T2", "sealed-3"))
        await repo.save_bot(bot_row("T1", "other-app", client_id="C2"))
    async with store.unit() as uow:
        found = await uow.slack_installs.latest_bot(
            client_id="C1", enterprise_id=None, team_id="T1"
        )
        assert isinstance(found, SlackBot) and found.bot_token == "sealed-2"
        assert found.installed_at == NOW + timedelta(hours=1)
        assert (
            await uow.slack_installs.latest_bot(client_id="C1", enterprise_id=None, team_id="T9")
        ) is None


async def test_saving_the_same_installation_again_updates_it(store):
    row = {**bot_row("T1", "sealed-1"), "user_id": "U1", "user_token": None}
    async with store.unit() as uow:
        await uow.slack_installs.save_installation(row)
    async with store.unit() as uow:
        await uow.slack_installs.save_installation({**row, "bot_token": "sealed-refreshed"})
    async with store.unit() as uow:
        found = await uow.slack_installs.latest_installation(
            client_id="C1", enterprise_id=None, team_id="T1"
        )
        assert isinstance(found, SlackInstallation) and found.bot_token == "sealed-refreshed"
        rows = await uow.session.execute(SlackInstallation.__table__.select())
        assert len(rows.all()) == 1


async def test_deleting_the_bots_of_a_workspace_leaves_no_bot_token_of_it(store):
    async with store.unit() as uow:
        await uow.slack_installs.save_installation({**bot_row("T1", "s1"), "user_id": "U1"})
        await uow.slack_installs.save_bot(bot_row("T1", "s1"))
        await uow.slack_installs.save_bot(bot_row("T2", "s2"))
    async with store.unit() as uow:
        deleted = await uow.slack_installs.delete_bots(
            client_id="C1", enterprise_id=None, team_id="T1"
        )
    assert deleted == 1
    async with store.unit() as uow:
        repo = uow.slack_installs
        assert await repo.latest_bot(client_id="C1", enterprise_id=None, team_id="T1") is None
        assert await repo.latest_bot(client_id="C1", enterprise_id=None, team_id="T2")
        kept = await repo.latest_installation(client_id="C1", enterprise_id=None, team_id="T1")
        assert kept is not None and kept.bot_token is None and kept.user_id == "U1"
        assert (
            await repo.delete_installations(client_id="C1", enterprise_id=None, team_id="T1") == 1
        )


async def test_an_oauth_state_works_once_and_not_after_it_expires(store):
    async with store.unit() as uow:
        await uow.slack_installs.issue_state("s-ok", expire_at=NOW + timedelta(minutes=10), now=NOW)
        await uow.slack_installs.issue_state("s-old", expire_at=NOW + timedelta(minutes=1), now=NOW)
    later = NOW + timedelta(minutes=5)
    async with store.unit() as uow:
        assert await uow.slack_installs.consume_state("s-ok", now=later)
        assert not await uow.slack_installs.consume_state("s-ok", now=later)
        assert not await uow.slack_installs.consume_state("s-old", now=later)
        assert not await uow.slack_installs.consume_state("never-issued", now=later)
