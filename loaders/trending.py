"""Trending stocks: mention volume in a window and its change against the window before."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

from sqlalchemy import (
    Executable,
    Float,
    Integer,
    Subquery,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)

from app.cache import TRENDING_TAG, Codec
from app.models import SentimentBucket, Stock
from app.timeutil import HOUR
from loaders.base import Loader, LoaderEnv, hour_part
from loaders.codec import ListCodec, RowCodec
from loaders.rows import TrendingRow
from loaders.sentiment import window_start
from loaders.stocks import STOCK_COLUMNS, StockByIdLoader, stock_row

TrendWindow = Literal["HOUR", "DAY", "WEEK"]
WINDOW_HOURS: dict[str, int] = {"HOUR": 1, "DAY": 24, "WEEK": 168}

B = SentimentBucket


@dataclass(frozen=True, slots=True)
class TrendingKey:
    window: TrendWindow
    limit: int


def _ranking_params(index: int, key: TrendingKey, env: LoaderEnv) -> dict[str, Any]:
    hours = WINDOW_HOURS[key.window]
    current_start = window_start(env.now, hours)
    return {
        f"current_{index}": current_start,
        f"previous_{index}": current_start - hours * HOUR,
        f"limit_{index}": key.limit,
    }


def _ranking(index: int) -> Subquery:
    in_current = B.bucket_start >= bindparam(f"current_{index}")
    counts = (
        select(
            B.stock_id,
            func.sum(case((in_current, B.mention_count), else_=0)).label("cur"),
            func.sum(case((in_current, 0), else_=B.mention_count)).label("prev"),
            func.sum(case((in_current, B.compound_sum), else_=0.0)).label("cur_sum"),
        )
        .where(B.bucket_start >= bindparam(f"previous_{index}"))
        .group_by(B.stock_id)
        .subquery()
    )
    cur = cast(counts.c.cur, Float)
    prev = cast(counts.c.prev, Float)
    change = (cur - prev) / case((prev > 1.0, prev), else_=1.0)
    score = cur * (1.0 + case((change > 0.0, change), else_=0.0))
    return (
        select(
            literal(index).label("k"),
            counts.c.cur,
            counts.c.prev,
            counts.c.cur_sum,
            change.label("change"),
            score.label("score"),
            *STOCK_COLUMNS,
        )
        .join_from(counts, Stock, Stock.id == counts.c.stock_id)
        .where(counts.c.cur > 0)
        .order_by(score.desc(), counts.c.cur.desc(), Stock.symbol)
        .limit(bindparam(f"limit_{index}", type_=Integer()))
        .subquery()
    )


@lru_cache(maxsize=16)
def _rankings(count: int) -> Executable:
    """The statement of `count` rankings (their windows and limits are bound per batch)."""
    selects = [_ranking(i).select() for i in range(count)]
    return selects[0] if count == 1 else union_all(*selects)


# Adaptive TTL: a ranking that barely moves and has volume lives longer (up to the maximum), one
# whose counts jump lives shorter; a stale ranking is served while one request refreshes it.
TRENDING_MAX_TTL_S = 600.0
TRENDING_MIN_TTL_S = 30.0
STABLE_CHANGE = 0.1
MOVING_CHANGE = 0.5
POPULAR_MENTIONS = 100


def adaptive_ttl(rows: Sequence[TrendingRow], base_s: float) -> float:
    """The TTL of a ranking: longer when it is stable and popular, shorter when it moves."""
    if not rows:
        return base_s
    movement = max(abs(r.mention_change) for r in rows)
    volume = sum(r.mention_count for r in rows)
    floor = min(base_s, TRENDING_MIN_TTL_S)
    if movement >= 2 * MOVING_CHANGE:
        return max(base_s / 4, floor)
    if movement >= MOVING_CHANGE:
        return max(base_s / 2, floor)
    if movement <= STABLE_CHANGE and volume >= POPULAR_MENTIONS:
        return max(min(base_s * 2, TRENDING_MAX_TTL_S), base_s)
    return base_s


class TrendingLoader(Loader[TrendingKey, list[TrendingRow]]):
    """One ranking per (window, limit); the stocks ranked are primed into the by-id loader."""

    cache_type = "trending"
    cache_ttl_s = TrendingRow.cache_ttl_s
    cache_stale_s = 60.0
    cache_codec: ClassVar[Codec[Any]] = ListCodec(RowCodec(TrendingRow))

    def __init__(self, env: LoaderEnv, by_id: StockByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    def cache_part(self, key: TrendingKey) -> str:
        return f"{key.window}:{key.limit}:h{hour_part(self.env.now)}"

    def cache_tag(self, key: TrendingKey) -> str:
        return TRENDING_TAG

    def cache_ttl(self, key: TrendingKey, value: list[TrendingRow], base_s: float) -> float:
        return adaptive_ttl(value, base_s)

    async def load_batch(self, keys: Sequence[TrendingKey]) -> list[list[TrendingRow]]:
        params: dict[str, Any] = {}
        for i, key in enumerate(keys):
            params.update(_ranking_params(i, key, self.env))
        grouped: list[list[TrendingRow]] = [[] for _ in keys]
        for r in await self.env.db.fetch(_rankings(len(keys)), params):
            self.prime_related(self.by_id, r.id, stock_row(r))
            grouped[r.k].append(
                TrendingRow(
                    stock_id=r.id,
                    mention_count=int(r.cur),
                    previous_count=int(r.prev),
                    mention_change=round(float(r.change), 4),
                    compound_score=round(float(r.cur_sum) / int(r.cur), 4),
                    score=float(r.score),
                )
            )
        for rows in grouped:
            rows.sort(key=lambda t: -t.score)
        return grouped
