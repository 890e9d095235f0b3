"""Initial schema: stocks, mentions, hourly sentiment buckets.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 15:20:19+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=True),
        sa.Column("sector", sa.String(length=100), nullable=True),
        sa.Column("industry", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stocks"),
        sa.UniqueConstraint("symbol", name="uq_stocks_symbol"),
    )
    # StockList filtered by sector, in symbol order.
    op.create_index("ix_stocks_sector_symbol", "stocks", ["sector", "symbol"])

    op.create_table(
        "mentions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("stock_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compound", sa.Float(), nullable=False),
        sa.Column("positive", sa.Float(), nullable=False),
        sa.Column("neutral", sa.Float(), nullable=False),
        sa.Column("negative", sa.Float(), nullable=False),
        sa.Column(
            "ingested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "source IN ('REDDIT', 'TWITTER', 'STOCKTWITS', 'NEWS')", name="ck_mentions_source_known"
        ),
        sa.CheckConstraint("compound >= -1 AND compound <= 1", name="ck_mentions_compound_range"),
        sa.ForeignKeyConstraint(
            ["stock_id"], ["stocks.id"], name="fk_mentions_stock_id_stocks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mentions"),
        sa.UniqueConstraint("source", "external_id", name="uq_mentions_source_external_id"),
    )
    # Every mention page (StockDetail, MentionFeed, Trending): newest first per stock, keyset.
    op.create_index(
        "ix_mentions_stock_published",
        "mentions",
        ["stock_id", sa.text("published_at DESC"), sa.text("id DESC")],
    )
    # Mention pages filtered to one source.
    op.create_index(
        "ix_mentions_stock_source_published",
        "mentions",
        ["stock_id", "source", sa.text("published_at DESC"), sa.text("id DESC")],
    )

    op.create_table(
        "sentiment_buckets",
        sa.Column("stock_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mention_count", sa.Integer(), nullable=False),
        sa.Column("positive_count", sa.Integer(), nullable=False),
        sa.Column("negative_count", sa.Integer(), nullable=False),
        sa.Column("neutral_count", sa.Integer(), nullable=False),
        sa.Column("compound_sum", sa.Float(), nullable=False),
        sa.Column("compound_mean", sa.Float(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["stock_id"],
            ["stocks.id"],
            name="fk_sentiment_buckets_stock_id_stocks",
            ondelete="CASCADE",
        ),
        # Stock.sentiment and Stock.sentimentHistory: the last N buckets of each stock.
        sa.PrimaryKeyConstraint("stock_id", "bucket_start", name="pk_sentiment_buckets"),
    )
    # trendingStocks: every stock's buckets within the current and the previous window.
    op.create_index(
        "ix_sentiment_buckets_bucket_start", "sentiment_buckets", ["bucket_start", "stock_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_sentiment_buckets_bucket_start", table_name="sentiment_buckets")
    op.drop_table("sentiment_buckets")
    op.drop_index("ix_mentions_stock_source_published", table_name="mentions")
    op.drop_index("ix_mentions_stock_published", table_name="mentions")
    op.drop_table("mentions")
    op.drop_index("ix_stocks_sector_symbol", table_name="stocks")
    op.drop_table("stocks")
