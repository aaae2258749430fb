"""Data protection and risks: risks to delivery, the unnamed counts an erasure or the retention
period leaves behind (check-in participants, meeting attendance), and when a cycle's answers
were taken out under the retention setting.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("answers_expired_at", sa.DateTime(timezone=True), nullable=True)
        )

    op.create_table(
        "unnamed_participants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_unnamed_participants_area_id_areas"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_unnamed_participants_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unnamed_participants")),
    )
    op.create_index(op.f("ix_unnamed_participants_cycle_id"), "unnamed_participants", ["cycle_id"])

    op.create_table(
        "unnamed_attendance",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_unnamed_attendance_area_id_areas"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_unnamed_attendance_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_unnamed_attendance_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unnamed_attendance")),
    )
    op.create_index(op.f("ix_unnamed_attendance_meeting_id"), "unnamed_attendance", ["meeting_id"])

    op.create_table(
        "risks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_risks_area_id_areas"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["members.id"],
            name=op.f("fk_risks_reporter_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risks")),
    )
    op.create_index(op.f("ix_risks_reporter_id"), "risks", ["reporter_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_risks_reporter_id"), table_name="risks")
    op.drop_table("risks")
    op.drop_index(op.f("ix_unnamed_attendance_meeting_id"), table_name="unnamed_attendance")
    op.drop_table("unnamed_attendance")
    op.drop_index(op.f("ix_unnamed_participants_cycle_id"), table_name="unnamed_participants")
    op.drop_table("unnamed_participants")
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.drop_column("answers_expired_at")
