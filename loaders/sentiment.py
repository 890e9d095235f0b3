"""Rolling 24-hour sentiment and hourly or daily history, read from the hourly buckets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, ClassVar, Literal

from sqlalchemy import ColumnElement, Executable, Integer, bindparam, func, select, type_coerce

from app.cache import Codec, stock_tag
from app.models import (
    ROLLING_SENTIMENT_COLUMNS,
    SENTIMENT_WINDOW_HOURS,
    SentimentBucket,
    UTCDateTime,
)
from app.timeutil import HOUR, as_utc, floor_day, floor_hour
from loaders.base import KEYS, Loader, LoaderEnv, hour_part, in_keys
from loaders.codec import OptionalCodec, RowCodec, SequenceCodec
from loaders.rows import History, PointRow, SentimentRow

Interval = Literal["HOUR", "DAY"]
DAY = timedelta(days=1)

B = SentimentBucket


def window_start(now: datetime, hours: int) -> datetime:
    """The first bucket of a window of `hours` hourly buckets that ends with the current one."""
    return floor_hour(now) - (hours - 1) * HOUR


@cache
def _rolling(dialect: str) -> Executable:
    return (
        select(*ROLLING_SENTIMENT_COLUMNS)
        .where(in_keys(B.stock_id, Integer(), dialect))
        .where(B.bucket_start >= bindparam("since", type_=UTCDateTime()))
        .group_by(B.stock_id)
    )


class SentimentByStockLoader(Loader[int, SentimentRow | None]):
    cache_type = "Sentiment"
    cache_ttl_s = SentimentRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = OptionalCodec(RowCodec(SentimentRow))

    def cache_part(self, key: int) -> str:
        return f"{key}:h{hour_part(self.env.now)}"

    def cache_tag(self, key: int) -> str:
        return stock_tag(key)

    async def load_batch(self, keys: Sequence[int]) -> list[SentimentRow | None]:
        db = self.env.db
        since = window_start(self.env.now, SENTIMENT_WINDOW_HOURS)
        rows = await db.fetch(_rolling(db.dialect), {KEYS: list(keys), "since": since})
        found = {
            r.stock_id: SentimentRow(
                stock_id=r.stock_id,
                compound_score=round(r.total / r.n, 4),
                mention_count=int(r.n),
                positive=int(r.pos),
                negative=int(r.neg),
                neutral=int(r.neu),
                updated_at=as_utc(r.updated_at),
            )
            for r in rows
            if r.n
        }
        return [found.get(k) for k in keys]


@dataclass(frozen=True, slots=True)
class HistoryKey:
    stock_id: int
    last: int


def _day_of(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # The connection runs with timezone=UTC, so days are UTC days.
        return func.date_trunc("day", B.bucket_start)
    return type_coerce(func.strftime("%Y-%m-%d 00:00:00.000000", B.bucket_start), UTCDateTime())


@cache
def _history(interval: Interval, dialect: str) -> Executable:
    bucket = B.bucket_start if interval == "HOUR" else _day_of(dialect)
    return (
        select(
            B.stock_id,
            type_coerce(bucket, UTCDateTime()).label("start"),
            func.sum(B.mention_count).label("n"),
            func.sum(B.positive_count).label("pos"),
            func.sum(B.negative_count).label("neg"),
            func.sum(B.neutral_count).label("neu"),
            func.sum(B.compound_sum).label("total"),
        )
        .where(in_keys(B.stock_id, Integer(), dialect))
        .where(B.bucket_start >= bindparam("since", type_=UTCDateTime()))
        .group_by(B.stock_id, bucket)
    )


class SentimentHistoryLoader(Loader[HistoryKey, History]):
    """The last N buckets of a stock, oldest first, with empty buckets filled as zero points."""

    cache_type = "SentimentPoint"
    cache_ttl_s = PointRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = SequenceCodec(History, RowCodec(PointRow))

    def __init__(self, env: LoaderEnv, interval: Interval) -> None:
        super().__init__(env)
        self.interval = interval
        self._starts_of: dict[int, list[datetime]] = {}  # by `last`: the request's `now` is fixed

    def cache_part(self, key: HistoryKey) -> str:
        return f"{self.interval}:{key.stock_id}:{key.last}:h{hour_part(self.env.now)}"

    def cache_tag(self, key: HistoryKey) -> str:
        return stock_tag(key.stock_id)

    def _starts(self, last: int) -> list[datetime]:
        starts = self._starts_of.get(last)
        if starts is None:
            starts = self._starts_of[last] = self._window(last)
        return starts

    def _window(self, last: int) -> list[datetime]:
        if self.interval == "HOUR":
            first = window_start(self.env.now, last)
            return [first + i * HOUR for i in range(last)]
        first_day = floor_day(self.env.now) - (last - 1) * DAY
        return [first_day + i * DAY for i in range(last)]

    async def load_batch(self, keys: Sequence[HistoryKey]) -> list[History]:
        longest = max(k.last for k in keys)
        db = self.env.db
        params = {KEYS: [k.stock_id for k in keys], "since": self._starts(longest)[0]}
        by_stock: dict[int, dict[datetime, Any]] = defaultdict(dict)
        for r in await db.fetch(_history(self.interval, db.dialect), params):
            by_stock[r.stock_id][as_utc(r.start)] = r
        return [self._points(key, by_stock.get(key.stock_id, {})) for key in keys]

    def _points(self, key: HistoryKey, buckets: dict[datetime, Any]) -> History:
        points = []
        for start in self._starts(key.last):
            r = buckets.get(start)
            if r is None or not r.n:
                points.append(PointRow(start, 0.0, 0, 0, 0, 0))
                continue
            points.append(
                PointRow(
                    start, round(r.total / r.n, 4), int(r.n), int(r.pos), int(r.neg), int(r.neu)
                )
            )
        return History(tuple(points))
