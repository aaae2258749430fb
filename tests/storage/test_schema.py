"""The migrations and the models agree, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.models import Base
from storage.practice import is_search_object
from storage.revisions import current_revision, head_revision


async def test_migrations_reach_head_and_match_the_models(store):
    assert await current_revision(store.engine) == head_revision()

    def diff(sync_connection):
        # The full-text tables and index are the migration's alone (FTS5, an expression index).
        context = MigrationContext.configure(
            sync_connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, parent: not is_search_object(name),
            },
        )
        return compare_metadata(context, Base.metadata)

    async with store.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []
