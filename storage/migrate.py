"""Apply and inspect Alembic migrations from code (``partnerbot db upgrade``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Blocking: call it outside an event loop,
    or through ``asyncio.to_thread``."""
    command.upgrade(alembic_config(url), revision)


def alembic_head() -> str | None:
    """Alembic's answer to storage/revisions.py's head_revision (which serving uses)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def alembic_revision(engine: AsyncEngine) -> str | None:
    """Alembic's answer to storage/revisions.py's current_revision."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
