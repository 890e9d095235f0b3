"""The outbox of live events: written with the mentions, read by every worker, kept for a window.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_live_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_live_events_channel_id", "live_events", ["channel", "id"])


def downgrade() -> None:
    op.drop_index("ix_live_events_channel_id", table_name="live_events")
    op.drop_table("live_events")
