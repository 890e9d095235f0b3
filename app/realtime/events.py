"""Events of an ingest: `mentionAdded` and `sentimentUpdated`, per symbol, built in its transaction.

The payloads carry everything a subscriber's selection may need (the mention, the stock, the
fresh rolling sentiment), so delivering an event costs no SQL on the receiving side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    MENTION_READ_COLUMNS,
    ROLLING_SENTIMENT_COLUMNS,
    SENTIMENT_WINDOW_HOURS,
    Mention,
    SentimentBucket,
    Stock,
)
from app.realtime.broker import Message
from app.store import StoredMention
from app.timeutil import HOUR, floor_hour, utcnow

MENTION_CHANNEL = "mention:"
SENTIMENT_CHANNEL = "sentiment:"


def mention_channel(symbol: str) -> str:
    return MENTION_CHANNEL + symbol


def sentiment_channel(symbol: str) -> str:
    return SENTIMENT_CHANNEL + symbol


def _stock(row: Any) -> dict[str, Any]:
    return {
        "id": row.stock_id,
        "symbol": row.symbol,
        "name": row.name,
        "exchange": row.exchange,
        "sector": row.sector,
        "industry": row.industry,
    }


async def _mentions(session: AsyncSession, ids: Sequence[int]) -> list[Any]:
    stmt = (
        select(
            *MENTION_READ_COLUMNS,
            Stock.symbol,
            Stock.name,
            Stock.exchange,
            Stock.sector,
            Stock.industry,
        )
        .join(Stock, Stock.id == Mention.stock_id)
        .where(Mention.id.in_(ids))
        .order_by(Mention.published_at, Mention.id)
    )
    return list(await session.execute(stmt))


async def _sentiments(session: AsyncSession, stock_ids: Sequence[int], now: datetime) -> list[Any]:
    b = SentimentBucket
    stmt = (
        select(*ROLLING_SENTIMENT_COLUMNS)
        .where(b.stock_id.in_(stock_ids))
        .where(b.bucket_start >= floor_hour(now) - (SENTIMENT_WINDOW_HOURS - 1) * HOUR)
        .group_by(b.stock_id)
    )
    return [r for r in await session.execute(stmt) if r.n]


async def build_events(session: AsyncSession, stored: Sequence[StoredMention]) -> list[Message]:
    """One `mention:<SYMBOL>` message per stored mention, one `sentiment:<SYMBOL>` per stock.

    Read in the writing transaction (app/realtime/outbox.py), so the sentiment is the one just
    committed.
    """
    if not stored:
        return []
    mentions = await _mentions(session, [m.id for m in stored])
    stocks = {r.stock_id: _stock(r) for r in mentions}
    messages: list[Message] = []
    for r in mentions:
        mention = {
            "id": r.id,
            "stock_id": r.stock_id,
            "source": r.source,
            "external_id": r.external_id,
            "author": r.author,
            "text": r.text,
            "url": r.url,
            "published_at": r.published_at,
            "compound": r.compound,
        }
        payload = orjson.dumps({"mention": mention, "stock": stocks[r.stock_id]})
        messages.append((mention_channel(r.symbol), payload))
    for s in await _sentiments(session, sorted(stocks), utcnow()):
        sentiment = {
            "stock_id": s.stock_id,
            "compound_score": round(s.total / s.n, 4),
            "mention_count": int(s.n),
            "positive": int(s.pos),
            "negative": int(s.neg),
            "neutral": int(s.neu),
            "updated_at": s.updated_at,
        }
        stock = stocks[s.stock_id]
        payload = orjson.dumps({"sentiment": sentiment, "stock": stock})
        messages.append((sentiment_channel(stock["symbol"]), payload))
    return messages
