"""The relational model. GraphQL types are built from these rows; they are not these rows."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.timeutil import as_utc

# Constraint names are fixed so that migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime (SQLite included)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite hands back text
            value = datetime.fromisoformat(value)
        return as_utc(value)


class MentionSource(enum.StrEnum):
    REDDIT = "REDDIT"
    TWITTER = "TWITTER"
    STOCKTWITS = "STOCKTWITS"
    NEWS = "NEWS"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Stock(Base):
    __tablename__ = "stocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The unique index on symbol serves `stock(symbol)`, `stocksBySymbols` and the
    # keyset pagination of `stocks` (ordered by symbol).
    symbol: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    exchange: Mapped[str | None] = mapped_column(String(32))
    sector: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    mentions: Mapped[list[Mention]] = relationship(back_populates="stock", lazy="raise")

    __table_args__ = (
        # Serves `stocks(sector: ...)` on the market overview page (StockList).
        Index("ix_stocks_sector_symbol", "sector", "symbol"),
    )


class Mention(Base):
    __tablename__ = "mentions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stock_id: Mapped[int] = mapped_column(ForeignKey("stocks.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    author: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    compound: Mapped[float] = mapped_column(Float)
    positive: Mapped[float] = mapped_column(Float)
    neutral: Mapped[float] = mapped_column(Float)
    negative: Mapped[float] = mapped_column(Float)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    stock: Mapped[Stock] = relationship(back_populates="mentions", lazy="raise")

    __table_args__ = (
        # A re-sent mention (same source, same external id) is never stored twice.
        UniqueConstraint("source", "external_id", name="uq_mentions_source_external_id"),
        CheckConstraint(
            "source IN ('REDDIT', 'TWITTER', 'STOCKTWITS', 'NEWS')", name="source_known"
        ),
        CheckConstraint("compound >= -1 AND compound <= 1", name="compound_range"),
        # Serves every mention page: `Stock.mentions(first, after)` newest first, keyset on
        # (published_at, id), in StockDetail, MentionFeed and Trending (a LATERAL scan per stock).
        Index(
            "ix_mentions_stock_published",
            "stock_id",
            published_at.desc(),
            id.desc(),
        ),
        # Serves `Stock.mentions(source: ...)`: the same page filtered to one source.
        Index(
            "ix_mentions_stock_source_published",
            "stock_id",
            "source",
            published_at.desc(),
            id.desc(),
        ),
    )


# A mention as it is read (its API fields; the sentiment split and ingest time stay in the table):
# the mention loaders and the subscription events select exactly these.
MENTION_READ_COLUMNS = (
    Mention.id,
    Mention.stock_id,
    Mention.source,
    Mention.external_id,
    Mention.author,
    Mention.text,
    Mention.url,
    Mention.published_at,
    Mention.compound,
)


class SentimentBucket(Base):
    """One stock's mentions rolled up per UTC hour; sentiment and history are read from here."""

    __tablename__ = "sentiment_buckets"

    # The primary key (stock_id, bucket_start) serves `Stock.sentiment` (the last 24 buckets of
    # each stock) and `Stock.sentimentHistory` (the last N buckets of each stock).
    stock_id: Mapped[int] = mapped_column(
        ForeignKey("stocks.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    mention_count: Mapped[int] = mapped_column(Integer, default=0)
    positive_count: Mapped[int] = mapped_column(Integer, default=0)
    negative_count: Mapped[int] = mapped_column(Integer, default=0)
    neutral_count: Mapped[int] = mapped_column(Integer, default=0)
    compound_sum: Mapped[float] = mapped_column(Float, default=0.0)
    compound_mean: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    __table_args__ = (
        # Serves `trendingStocks`: every stock's buckets within a window (the two latest windows).
        Index("ix_sentiment_buckets_bucket_start", "bucket_start", "stock_id"),
    )


# The rolling sentiment of a stock: its last SENTIMENT_WINDOW_HOURS hourly buckets summed, grouped
# by stock_id. The sentiment loader and the `sentimentUpdated` events select exactly these.
SENTIMENT_WINDOW_HOURS = 24
ROLLING_SENTIMENT_COLUMNS = (
    SentimentBucket.stock_id,
    func.sum(SentimentBucket.mention_count).label("n"),
    func.sum(SentimentBucket.positive_count).label("pos"),
    func.sum(SentimentBucket.negative_count).label("neg"),
    func.sum(SentimentBucket.neutral_count).label("neu"),
    func.sum(SentimentBucket.compound_sum).label("total"),
    func.max(SentimentBucket.updated_at).label("updated_at"),
)


class LiveEvent(Base):
    """An announced event (the outbox): written with the mentions it announces, read by workers.

    The id is the event's cursor: ids are taken under one lock held to the commit
    (app/realtime/outbox.py), so they commit in order and a reader never sees a later id before an
    earlier one.
    """

    __tablename__ = "live_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    __table_args__ = (
        # Serves a resume: one subscriber's channels after its cursor.
        Index("ix_live_events_channel_id", "channel", "id"),
        # SQLite would reuse the id of a deleted last row; a cursor must never mean two events.
        {"sqlite_autoincrement": True},
    )


class ApiKey(Base):
    """A partner's API key; only its SHA-256 hash is stored, never the key itself."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key, kept in clear so operators can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    # The unique index on the hash serves the lookup on every authenticated request.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
