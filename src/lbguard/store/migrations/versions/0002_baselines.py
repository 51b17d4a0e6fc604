"""Approved baselines for `lbguard baseline` and `lbguard audit`.

Revision ID: 0002_baselines
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_baselines"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("configs", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("state_sha256", sa.String(64), nullable=False),
        sa.Column("trail_seq", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("baselines")
