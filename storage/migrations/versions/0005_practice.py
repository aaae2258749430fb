"""Shared practice: records, their tags, the tag vocabulary, and full-text search over them
(SQLite: an FTS5 table with the porter tokenizer kept up to date by triggers; PostgreSQL: a stored
generated column with the english tsvector of title, tags and body, and a GIN index on it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Kept in step with storage/practice.py, which queries the same expression and table.
PG_DOCUMENT = (
    "setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', tag_text), 'B') || "
    "setweight(to_tsvector('english', body), 'D')"
)
SQLITE_FTS = [
    # External content: the text lives once, in practice_records; FTS5 keeps only the index.
    "CREATE VIRTUAL TABLE practice_fts USING fts5(title, body, tag_text, "
    "content='practice_records', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER practice_fts_insert AFTER INSERT ON practice_records BEGIN "
    "INSERT INTO practice_fts(rowid, title, body, tag_text) "
    "VALUES (new.id, new.title, new.body, new.tag_text); END",
    "CREATE TRIGGER practice_fts_delete AFTER DELETE ON practice_records BEGIN "
    "INSERT INTO practice_fts(practice_fts, rowid, title, body, tag_text) "
    "VALUES ('delete', old.id, old.title, old.body, old.tag_text); END",
    "CREATE TRIGGER practice_fts_update AFTER UPDATE OF title, body, tag_text "
    "ON practice_records BEGIN "
    "INSERT INTO practice_fts(practice_fts, rowid, title, body, tag_text) "
    "VALUES ('delete', old.id, old.title, old.body, old.tag_text); "
    "INSERT INTO practice_fts(rowid, title, body, tag_text) "
    "VALUES (new.id, new.title, new.body, new.tag_text); END",
]


def upgrade() -> None:
    op.create_table(
        "practice_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("tag_text", sa.String(length=500), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source_author", sa.String(length=200), nullable=True),
        sa.Column("source_url", sa.String(length=1000), nullable=True),
        sa.Column("source_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_practice_records_area_id_areas"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["members.id"],
            name=op.f("fk_practice_records_author_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_practice_records_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_practice_records_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice_records")),
    )
    with op.batch_alter_table("practice_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practice_records_area_id"), ["area_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_practice_records_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index(
            "ix_practice_records_status_published_at", ["status", "published_at"], unique=False
        )

    op.create_table(
        "practice_record_tags",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["practice_records.id"],
            name=op.f("fk_practice_record_tags_record_id_practice_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "tag", name=op.f("pk_practice_record_tags")),
    )
    with op.batch_alter_table("practice_record_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_practice_record_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "practice_tag_names",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["members.id"],
            name=op.f("fk_practice_tag_names_added_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_practice_tag_names")),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        # Stored, not an expression index: ranking reads the vector of every match, and
        # computing three to_tsvector per row at query time made a common word 50x slower.
        op.execute(
            "ALTER TABLE practice_records ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_practice_records_search ON practice_records USING gin (search_vector)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("practice_fts_update", "practice_fts_delete", "practice_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS practice_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_practice_records_search")
        op.execute("ALTER TABLE practice_records DROP COLUMN IF EXISTS search_vector")
    op.drop_table("practice_tag_names")
    with op.batch_alter_table("practice_record_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practice_record_tags_tag"))
    op.drop_table("practice_record_tags")
    with op.batch_alter_table("practice_records", schema=None) as batch_op:
        batch_op.drop_index("ix_practice_records_status_published_at")
        batch_op.drop_index(batch_op.f("ix_practice_records_author_id"))
        batch_op.drop_index(batch_op.f("ix_practice_records_area_id"))
    op.drop_table("practice_records")
