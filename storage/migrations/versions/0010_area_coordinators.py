"""Coordinators of one area: a member may coordinate some areas rather than the whole
partnership. Existing coordinators (``coordinator`` rows in ``roles``) stay partnership-wide.

Revision ID: 0010
Revises: 0009_forums
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009_forums"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "area_coordinators",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_area_coordinators_area_id_areas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_area_coordinators_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "area_id", name=op.f("pk_area_coordinators")),
    )
    op.create_index(
        op.f("ix_area_coordinators_area_id"), "area_coordinators", ["area_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_area_coordinators_area_id"), table_name="area_coordinators")
    op.drop_table("area_coordinators")
