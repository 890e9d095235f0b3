"""Plain rows that loaders return: compact, immutable, serialisable for the cache.

Each row type declares how long it may be cached (`cache_ttl_s`, seconds); CACHE_TTL_OVERRIDES_S
overrides it by type name. The response cache uses the same figures for the GraphQL types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class StockRow:
    cache_ttl_s: ClassVar[float] = 600
    id: int
    symbol: str
    name: str
    exchange: str | None
    sector: str | None
    industry: str | None


@dataclass(frozen=True, slots=True, weakref_slot=True)  # weakly referable: schema/built.py
class SentimentRow:
    cache_ttl_s: ClassVar[float] = 120
    stock_id: int
    compound_score: float
    mention_count: int
    positive: int
    negative: int
    neutral: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PointRow:
    cache_ttl_s: ClassVar[float] = 120
    bucket_start: datetime
    compound_score: float
    mention_count: int
    positive: int
    negative: int
    neutral: int


@dataclass(frozen=True, slots=True)
class MentionRow:
    cache_ttl_s: ClassVar[float] = 300
    id: int
    stock_id: int
    source: str
    external_id: str
    author: str | None
    text: str
    url: str | None
    published_at: datetime
    compound: float


@dataclass(frozen=True, slots=True, weakref_slot=True)
class History:
    """A stock's sentiment points, oldest first: a frozen sequence, weakly referable (the schema
    builds a history's points once while the history lives, schema/types.py)."""

    rows: tuple[PointRow, ...]

    def __iter__(self) -> Iterator[PointRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> PointRow:
        return self.rows[index]


@dataclass(frozen=True, slots=True, weakref_slot=True)
class MentionPage:
    """A page of mentions; weakly referable: the schema keeps what it built from a page as long
    as the page lives (schema/types.py, MentionConnection.from_page)."""

    rows: tuple[MentionRow, ...]
    has_next: bool


@dataclass(frozen=True, slots=True)
class StockPage:
    rows: tuple[StockRow, ...]
    has_next: bool


@dataclass(frozen=True, slots=True)
class TrendingRow:
    cache_ttl_s: ClassVar[float] = 300  # a base: TrendingLoader adapts it to how the ranking moves
    stock_id: int
    mention_count: int
    previous_count: int
    mention_change: float
    compound_score: float
    score: float
