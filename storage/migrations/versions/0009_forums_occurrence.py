"""Meetings keep the start their series' rule gave them, so a moved or cancelled meeting of a
series is sent to calendars as that occurrence (RECURRENCE-ID) of the series' event.

Revision ID: 0009_forums
Revises: 0008
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_forums"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurrence_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_column("occurrence_at")
