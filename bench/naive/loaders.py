"""Loaders that neither batch nor cache: every `load` runs its statement for that key alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from loaders import LoaderEnv, Loaders
from loaders.base import Loader
from loaders.mentions import MentionByIdLoader, MentionPageLoader
from loaders.quotes import QuoteLoader
from loaders.sentiment import SentimentByStockLoader, SentimentHistoryLoader
from loaders.stocks import StockByIdLoader, StockBySymbolLoader, StockPageLoader
from loaders.trending import TrendingLoader

T = TypeVar("T")


class OneByOne:
    """Mixed in before a product loader: one statement per key asked, nothing remembered.

    The statements of one request run one after the other, as the old service's handlers ran
    their queries in a loop: `turn` is the request's lock, shared by all its loaders.
    """

    turn: asyncio.Lock
    shares_loads = False  # each load its own statement: the compiled plan must not ask early

    def load(self, key: Any) -> asyncio.Future[Any]:
        return asyncio.ensure_future(self._load_one(key))

    def load_shared(self, key: Any) -> asyncio.Future[Any]:
        return self.load(key)  # what the compiled plan asks for a loaded field: one statement too

    def load_many(self, keys: Iterable[Any]) -> asyncio.Future[list[Any]]:
        return asyncio.gather(*(self.load(k) for k in keys))

    def prime(self: T, key: Any, value: Any) -> T:
        return self  # the old service remembered nothing between queries

    async def _load_one(self, key: Any) -> Any:
        async with self.turn:
            values = await cast(Loader[Any, Any], self).load_batch([key])
        return values[0]


class NaiveStockById(OneByOne, StockByIdLoader):
    pass


class NaiveStockBySymbol(OneByOne, StockBySymbolLoader):
    pass


class NaiveStockPage(OneByOne, StockPageLoader):
    pass


class NaiveSentiment(OneByOne, SentimentByStockLoader):
    pass


class NaiveHistory(OneByOne, SentimentHistoryLoader):
    pass


class NaiveMentionById(OneByOne, MentionByIdLoader):
    pass


class NaiveMentionPage(OneByOne, MentionPageLoader):
    pass


class NaiveTrending(OneByOne, TrendingLoader):
    pass


class NaiveQuote(OneByOne, QuoteLoader):
    pass


def build_naive_loaders(env: LoaderEnv) -> Loaders:
    by_id = NaiveStockById(env)
    mention_by_id = NaiveMentionById(env)
    loaders = Loaders(
        env,
        stock_by_id=by_id,
        stock_by_symbol=NaiveStockBySymbol(env, by_id),
        stock_page=NaiveStockPage(env, by_id),
        sentiment=NaiveSentiment(env),
        hourly_history=NaiveHistory(env, "HOUR"),
        daily_history=NaiveHistory(env, "DAY"),
        mention_by_id=mention_by_id,
        mention_page=NaiveMentionPage(env, mention_by_id),
        trending=NaiveTrending(env, by_id),
        quote=NaiveQuote(env),
    )
    turn = asyncio.Lock()
    for loader in loaders.built():
        cast(OneByOne, loader).turn = turn
    return loaders
