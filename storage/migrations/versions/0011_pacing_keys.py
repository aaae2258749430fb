"""Pacing shared by every dispatcher on the database: each pacing key's recent sends.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacing_keys",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("sent", sa.JSON(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pacing_keys")),
    )
    op.create_index(op.f("ix_pacing_keys_updated_at"), "pacing_keys", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pacing_keys_updated_at"), table_name="pacing_keys")
    op.drop_table("pacing_keys")
