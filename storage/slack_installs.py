"""Slack installations through OAuth, as rows: what bot/slack_install.py's installation and
state stores keep. The rows come in and go out as they are stored - the token columns already
encrypted - so nothing here knows slack_sdk or holds a key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SlackBot, SlackInstallation, SlackOAuthState

# The bot's token columns of an installation row: cleared when the bot's tokens are revoked.
BOT_TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "bot_token_expires_at")


class SlackInstallRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- installations and bots ---------------------------------------------------------------

    async def save_installation(self, values: dict[str, Any]) -> None:
        """A new installation, or the same one (same workspace, same moment) with its tokens
        refreshed."""
        await self._save(SlackInstallation, values)

    async def save_bot(self, values: dict[str, Any]) -> None:
        await self._save(SlackBot, values)

    async def _save(self, model: type[SlackInstallation] | type[SlackBot], values: dict) -> None:
        columns = model.__table__.columns.keys()
        values = {key: value for key, value in values.items() if key in columns and key != "id"}
        existing = await self._session.scalar(
            select(model.id)
            .where(
                *_workspace(
                    model, values["client_id"], values.get("enterprise_id"), values.get("team_id")
                ),
                model.installed_at == values["installed_at"],
            )
            .limit(1)
        )
        if existing is None:
            self._session.add(model(**values))
        else:
            await self._session.execute(update(model).where(model.id == existing).values(**values))
        await self._session.flush()

    async def latest_bot(
        self, *, client_id: str, enterprise_id: str | None, team_id: str | None
    ) -> SlackBot | None:
        """The newest bot row of the workspace that still has a token."""
        return await self._session.scalar(
            select(SlackBot)
            .where(
                *_workspace(SlackBot, client_id, enterprise_id, team_id),
                SlackBot.bot_token.is_not(None),
            )
            .order_by(SlackBot.installed_at.desc(), SlackBot.id.desc())
            .limit(1)
        )

    async def latest_installation(
        self,
        *,
        client_id: str,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> SlackInstallation | None:
        query = select(SlackInstallation).where(
            *_workspace(SlackInstallation, client_id, enterprise_id, team_id)
        )
        if user_id is not None:
            query = query.where(SlackInstallation.user_id == user_id)
        return await self._session.scalar(
            query.order_by(
                SlackInstallation.installed_at.desc(), SlackInstallation.id.desc()
            ).limit(1)
        )

    async def delete_bots(
        self, *, client_id: str, enterprise_id: str | None, team_id: str | None
    ) -> int:
        """The workspace's bot tokens, gone: its bot rows, and the bot token columns of its
        installation rows (so no revoked token stays at rest). How many bot rows went."""
        result = await self._session.execute(
            delete(SlackBot).where(*_workspace(SlackBot, client_id, enterprise_id, team_id))
        )
        await self._session.execute(
            update(SlackInstallation)
            .where(*_workspace(SlackInstallation, client_id, enterprise_id, team_id))
            .values(dict.fromkeys(BOT_TOKEN_COLUMNS))
        )
        return result.rowcount or 0

    async def delete_installations(
        self,
        *,
        client_id: str,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> int:
        """The workspace's installation rows (only ``user_id``'s, when given)."""
        query = delete(SlackInstallation).where(
            *_workspace(SlackInstallation, client_id, enterprise_id, team_id)
        )
        if user_id is not None:
            query = query.where(SlackInstallation.user_id == user_id)
        result = await self._session.execute(query)
        return result.rowcount or 0

    # -- OAuth states -------------------------------------------------------------------------

    async def issue_state(self, state: str, *, expire_at: datetime, now: datetime) -> None:
        # Abandoned installations leave their states behind: sweep them as new ones come.
        await self._session.execute(delete(SlackOAuthState).where(SlackOAuthState.expire_at <= now))
        self._session.add(SlackOAuthState(state=state, expire_at=expire_at))
        await self._session.flush()

    async def consume_state(self, state: str, *, now: datetime) -> bool:
        """Whether ``state`` was issued and has not expired; it is gone either way, so it
        works once (a DELETE, so two replicas given the same state cannot both accept it)."""
        result = await self._session.execute(
            delete(SlackOAuthState).where(
                SlackOAuthState.state == state, SlackOAuthState.expire_at > now
            )
        )
        return (result.rowcount or 0) == 1


def _team_is(model: Any, team_id: str | None) -> Any:
    return model.team_id.is_(None) if team_id is None else model.team_id == team_id


def _workspace(
    model: Any, client_id: str, enterprise_id: str | None, team_id: str | None
) -> tuple[Any, ...]:
    """Rows of one workspace (or, with no team, of one org-wide installation) of this app."""
    enterprise = (
        model.enterprise_id.is_(None)
        if enterprise_id is None
        else model.enterprise_id == enterprise_id
    )
    return (model.client_id == client_id, enterprise, _team_is(model, team_id))
