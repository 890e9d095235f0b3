"""Trending stocks: mention volume in a window and its change against the window before."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Float, Subquery, case, cast, func, literal, select, union_all

from app.models import SentimentBucket, Stock
from app.timeutil import HOUR
from loaders.base import Loader, LoaderEnv
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


def _ranking(index: int, key: TrendingKey, env: LoaderEnv) -> Subquery:
    hours = WINDOW_HOURS[key.window]
    current_start = window_start(env.now, hours)
    previous_start = current_start - hours * HOUR
    in_current = B.bucket_start >= current_start
    counts = (
        select(
            B.stock_id,
            func.sum(case((in_current, B.mention_count), else_=0)).label("cur"),
            func.sum(case((in_current, 0), else_=B.mention_count)).label("prev"),
            func.sum(case((in_current, B.compound_sum), else_=0.0)).label("cur_sum"),
        )
        .where(B.bucket_start >= previous_start)
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
        .limit(key.limit)
        .subquery()
    )


class TrendingLoader(Loader[TrendingKey, list[TrendingRow]]):
    """One ranking per (window, limit); the stocks ranked are primed into the by-id loader."""

    def __init__(self, env: LoaderEnv, by_id: StockByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    async def load_batch(self, keys: Sequence[TrendingKey]) -> list[list[TrendingRow]]:
        selects = [_ranking(i, key, self.env).select() for i, key in enumerate(keys)]
        stmt = selects[0] if len(selects) == 1 else union_all(*selects)
        grouped: list[list[TrendingRow]] = [[] for _ in keys]
        async with self.env.db.sessionmaker() as session:
            for r in await session.execute(stmt):
                self.by_id.prime(r.id, stock_row(r))
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
