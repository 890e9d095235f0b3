"""Object types of the public contract, built from loader rows; edges resolve through loaders."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from operator import attrgetter

import strawberry

from app.sentiment import label_for
from loaders import HistoryKey, MentionPageKey
from loaders.rows import (
    History,
    MentionPage,
    MentionRow,
    PointRow,
    SentimentRow,
    StockPage,
    StockRow,
    TrendingRow,
)
from schema import cursors
from schema.built import BuiltOnce, shared
from schema.context import Context
from schema.errors import UpstreamUnavailable, check_range
from schema.loaded import ByLoader, by_loader
from schema.quotes import Quote

MAX_FIRST = 100
MAX_LAST = 720
QUOTE_COST = 10  # an upstream HTTP call, against 1 for a field read from a loaded row


@strawberry.enum(description="Where a mention was published.")
class MentionSource(Enum):
    REDDIT = "REDDIT"
    TWITTER = "TWITTER"
    STOCKTWITS = "STOCKTWITS"
    NEWS = "NEWS"


@strawberry.enum(description="VADER convention: compound >= 0.05, between, <= -0.05.")
class SentimentLabel(Enum):
    POSITIVE = "POSITIVE"
    NEUTRAL = "NEUTRAL"
    NEGATIVE = "NEGATIVE"


@strawberry.enum(description="Width of a sentiment history bucket (UTC hours or UTC days).")
class Interval(Enum):
    HOUR = "HOUR"
    DAY = "DAY"


@strawberry.enum(description="Window of a trending ranking: the last 1, 24 or 168 hourly buckets.")
class TrendWindow(Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"


def label(compound: float) -> SentimentLabel:
    return _LABELS[label_for(compound)]


# Enum members by value: a dict read, where calling the enum costs a lookup through its metaclass
# (once for every mention of a page, request after request).
_LABELS = {member.value: member for member in SentimentLabel}
_SOURCES = {member.value: member for member in MentionSource}


# Fields that are one loader's value for a key of their parent (schema/loaded.py). The builders
# are looked up when called: the types are defined below.
STOCK: ByLoader[int, StockRow | None, Stock] = ByLoader(
    lambda loaders: loaders.stock_by_id,
    attrgetter("stock_id"),
    lambda row: _present_stock(row),
)
SENTIMENT: ByLoader[int, SentimentRow | None, Sentiment | None] = ByLoader(
    lambda loaders: loaders.sentiment,
    attrgetter("row_id"),
    lambda row: _SENTIMENTS(row) if row is not None else None,
)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="Mean VADER sentiment of a stock over the rolling last 24 hours.")
class Sentiment:
    stock_id: strawberry.Private[int]
    compound_score: float = strawberry.field(description="Mean VADER compound score, -1..1.")
    label: SentimentLabel
    mention_count_24h: int = strawberry.field(name="mentionCount24h")
    positive_mentions: int
    negative_mentions: int
    neutral_mentions: int
    updated_at: datetime

    @classmethod
    def from_row(cls, row: SentimentRow) -> Sentiment:
        return cls(
            stock_id=row.stock_id,
            compound_score=row.compound_score,
            label=label(row.compound_score),
            mention_count_24h=row.mention_count,
            positive_mentions=row.positive,
            negative_mentions=row.negative,
            neutral_mentions=row.neutral,
            updated_at=row.updated_at,
        )

    @strawberry.field
    @by_loader(STOCK)
    async def stock(self, info: strawberry.Info[Context]) -> Stock:
        return await STOCK.resolve(self, info.context.loaders)


@strawberry.type(description="Sentiment of one history bucket; empty buckets have zero counts.")
class SentimentPoint:
    bucket_start: datetime
    compound_score: float
    mention_count: int
    positive_mentions: int
    negative_mentions: int
    neutral_mentions: int

    @classmethod
    def from_row(cls, row: PointRow) -> SentimentPoint:
        return cls(
            bucket_start=row.bucket_start,
            compound_score=row.compound_score,
            mention_count=row.mention_count,
            positive_mentions=row.positive,
            negative_mentions=row.negative,
            neutral_mentions=row.neutral,
        )


@strawberry.type(description="One post, tweet, message or article that names a stock.")
class Mention:
    id: strawberry.ID
    stock_id: strawberry.Private[int]
    source: MentionSource
    external_id: str
    author: str | None
    text: str
    url: str | None
    published_at: datetime
    compound_score: float
    label: SentimentLabel

    @classmethod
    def from_row(cls, row: MentionRow) -> Mention:
        return cls(
            id=strawberry.ID(str(row.id)),
            stock_id=row.stock_id,
            source=_SOURCES.get(row.source) or MentionSource(row.source),
            external_id=row.external_id,
            author=row.author,
            text=row.text,
            url=row.url,
            published_at=row.published_at,
            compound_score=row.compound,
            label=label(row.compound),
        )

    @strawberry.field
    @by_loader(STOCK)
    async def stock(self, info: strawberry.Info[Context]) -> Stock:
        return await STOCK.resolve(self, info.context.loaders)


@strawberry.type
class MentionEdge:
    cursor: str
    node: Mention


def _mention_edges(root: MentionConnection) -> list[MentionEdge]:
    # Cursors are encoded only when edges are asked for (feeds select `nodes` alone), once while
    # the connection lives.
    return _EDGES(root)


def _build_edges(root: MentionConnection) -> list[MentionEdge]:
    return [
        MentionEdge(cursor=cursors.encode_mention(r.published_at, r.id), node=n)
        for r, n in zip(root.rows, root.nodes, strict=True)
    ]


@strawberry.type
class MentionConnection:
    edges: list[MentionEdge] = strawberry.field(resolver=_mention_edges)
    nodes: list[Mention]
    page_info: PageInfo
    rows: strawberry.Private[tuple[MentionRow, ...]]

    @classmethod
    def from_page(cls, page: MentionPage) -> MentionConnection:
        """The connection of a page, built once while the page lives (schema/built.py)."""
        return _MENTION_CONNECTIONS(page)

    @classmethod
    def build(cls, page: MentionPage) -> MentionConnection:
        last = page.rows[-1] if page.rows else None
        end = cursors.encode_mention(last.published_at, last.id) if last else None
        return cls(
            nodes=[shared(Mention.from_row(r)) for r in page.rows],
            page_info=shared(PageInfo(has_next_page=page.has_next, end_cursor=end)),
            rows=page.rows,
        )


@strawberry.type(description="A listed company and what people say about it.")
class Stock:
    id: strawberry.ID
    row_id: strawberry.Private[int]
    symbol: str
    name: str
    exchange: str | None
    sector: str | None
    industry: str | None

    @classmethod
    def from_row(cls, row: StockRow) -> Stock:
        return cls(
            id=strawberry.ID(str(row.id)),
            row_id=row.id,
            symbol=row.symbol,
            name=row.name,
            exchange=row.exchange,
            sector=row.sector,
            industry=row.industry,
        )

    @strawberry.field(description="Rolling last 24 hours; null when nobody mentioned the stock.")
    @by_loader(SENTIMENT)
    async def sentiment(self, info: strawberry.Info[Context]) -> Sentiment | None:
        return await SENTIMENT.resolve(self, info.context.loaders)

    @strawberry.field(description="The last `last` buckets, oldest first (1..720).")
    async def sentiment_history(
        self, info: strawberry.Info[Context], interval: Interval = Interval.HOUR, last: int = 24
    ) -> list[SentimentPoint]:
        check_range("last", last, 1, MAX_LAST)
        loaders = info.context.loaders
        loader = loaders.hourly_history if interval is Interval.HOUR else loaders.daily_history
        return POINTS(await loader.load(HistoryKey(self.row_id, last)))

    @strawberry.field(description="Newest first; `first` is 1..100; `after` is an endCursor.")
    async def mentions(
        self,
        info: strawberry.Info[Context],
        first: int = 20,
        after: str | None = None,
        source: MentionSource | None = None,
    ) -> MentionConnection:
        check_range("first", first, 1, MAX_FIRST)
        position = cursors.decode_mention("after", after) if after is not None else None
        key = MentionPageKey(self.row_id, first, position, source.value if source else None)
        return MentionConnection.from_page(await info.context.loaders.mention_page.load(key))

    @strawberry.field(
        description="Latest market quote; null with an UPSTREAM_UNAVAILABLE error if it failed.",
        metadata={"cost": QUOTE_COST},
    )
    async def quote(self, info: strawberry.Info[Context]) -> Quote | None:
        data = await info.context.loaders.quote.load(self.symbol)
        if data is None:
            raise UpstreamUnavailable(f"no quote for {self.symbol}", symbol=self.symbol)
        return Quote.from_data(data)


@strawberry.type
class StockEdge:
    cursor: str
    node: Stock


def _stock_edges(root: StockConnection) -> list[StockEdge]:
    # Cursors are encoded only when edges are asked for (see _mention_edges).
    return [StockEdge(cursor=cursors.encode_stock(n.symbol), node=n) for n in root.nodes]


@strawberry.type
class StockConnection:
    edges: list[StockEdge] = strawberry.field(resolver=_stock_edges)
    nodes: list[Stock]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: StockPage) -> StockConnection:
        end = cursors.encode_stock(page.rows[-1].symbol) if page.rows else None
        return cls(
            nodes=[Stock.from_row(r) for r in page.rows],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=end),
        )


@strawberry.type(description="A stock ranked by mention volume and its growth over the window.")
class TrendingStock:
    rank: int
    stock_id: strawberry.Private[int]
    mention_count: int
    mention_change: float = strawberry.field(
        description="(count - previous) / max(previous, 1); previous = the window before."
    )
    compound_score: float

    @classmethod
    def from_row(cls, rank: int, row: TrendingRow) -> TrendingStock:
        return cls(
            rank=rank,
            stock_id=row.stock_id,
            mention_count=row.mention_count,
            mention_change=row.mention_change,
            compound_score=row.compound_score,
        )

    @strawberry.field
    @by_loader(STOCK)
    async def stock(self, info: strawberry.Info[Context]) -> Stock:
        return await STOCK.resolve(self, info.context.loaders)


def _present_stock(row: StockRow | None) -> Stock:
    if row is None:  # a foreign key guarantees the row; a delete mid-request is the only way here
        raise LookupError("a stock vanished during the request")
    return Stock.from_row(row)


# A page's connection, once while the page lives (schema/built.py): a feed's fifty pages are
# fifty connections and 500 mentions. (Stocks, a few objects a request whose selections are not
# all leaves, gained nothing measurable so. Sentiments do since their completions are kept:
# StockList's CPU with the field cache -13%, +5% without, where every row is new.)
_MENTION_CONNECTIONS: BuiltOnce[MentionPage, MentionConnection] = BuiltOnce(MentionConnection.build)
# A stock's sentiment, once while its row lives: a list's fifty, request after request, each
# completed once (its selection's values kept on it, schema/compiled/objects.py).
_SENTIMENTS: BuiltOnce[SentimentRow, Sentiment] = BuiltOnce(
    lambda row: shared(Sentiment.from_row(row))
)
# A connection's edges (its cursors encoded), once while the connection lives.
_EDGES: BuiltOnce[MentionConnection, list[MentionEdge]] = BuiltOnce(_build_edges)
# A history's points, built once while the history lives (one decoded history serves the requests
# of its stock until it changes): a list nothing changes, which the executor only reads.
POINTS: BuiltOnce[History, list[SentimentPoint]] = BuiltOnce(
    lambda history: [shared(SentimentPoint.from_row(r)) for r in history.rows]
)
