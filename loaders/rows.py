"""Plain rows that loaders return: compact, immutable, serialisable for the cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StockRow:
    id: int
    symbol: str
    name: str
    exchange: str | None
    sector: str | None
    industry: str | None


@dataclass(frozen=True, slots=True)
class SentimentRow:
    stock_id: int
    compound_score: float
    mention_count: int
    positive: int
    negative: int
    neutral: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PointRow:
    bucket_start: datetime
    compound_score: float
    mention_count: int
    positive: int
    negative: int
    neutral: int


@dataclass(frozen=True, slots=True)
class MentionRow:
    id: int
    stock_id: int
    source: str
    external_id: str
    author: str | None
    text: str
    url: str | None
    published_at: datetime
    compound: float


@dataclass(frozen=True, slots=True)
class MentionPage:
    rows: tuple[MentionRow, ...]
    has_next: bool


@dataclass(frozen=True, slots=True)
class StockPage:
    rows: tuple[StockRow, ...]
    has_next: bool


@dataclass(frozen=True, slots=True)
class TrendingRow:
    stock_id: int
    mention_count: int
    previous_count: int
    mention_change: float
    compound_score: float
    score: float
