"""Per-request DataLoaders; build a fresh `Loaders` for every request, inside the running loop."""

from __future__ import annotations

from dataclasses import dataclass, fields

from loaders.base import LoaderEnv
from loaders.mentions import MentionByIdLoader, MentionPageKey, MentionPageLoader
from loaders.quotes import QuoteLoader
from loaders.sentiment import HistoryKey, SentimentByStockLoader, SentimentHistoryLoader
from loaders.stocks import StockByIdLoader, StockBySymbolLoader, StockPageKey, StockPageLoader
from loaders.trending import TrendingKey, TrendingLoader


@dataclass(slots=True)
class Loaders:
    stock_by_id: StockByIdLoader
    stock_by_symbol: StockBySymbolLoader
    stock_page: StockPageLoader
    sentiment: SentimentByStockLoader
    hourly_history: SentimentHistoryLoader
    daily_history: SentimentHistoryLoader
    mention_by_id: MentionByIdLoader
    mention_page: MentionPageLoader
    trending: TrendingLoader
    quote: QuoteLoader

    @property
    def env(self) -> LoaderEnv:
        """The request's environment, which every loader shares."""
        return self.stock_by_id.env

    @classmethod
    def build(cls, env: LoaderEnv) -> Loaders:
        stock_by_id = StockByIdLoader(env)
        mention_by_id = MentionByIdLoader(env)
        return cls(
            stock_by_id=stock_by_id,
            stock_by_symbol=StockBySymbolLoader(env, stock_by_id),
            stock_page=StockPageLoader(env, stock_by_id),
            sentiment=SentimentByStockLoader(env),
            hourly_history=SentimentHistoryLoader(env, "HOUR"),
            daily_history=SentimentHistoryLoader(env, "DAY"),
            mention_by_id=mention_by_id,
            mention_page=MentionPageLoader(env, mention_by_id),
            trending=TrendingLoader(env, stock_by_id),
            quote=QuoteLoader(env),
        )

    def release(self) -> None:
        """Drop every value and future the loaders hold, once the request is answered.

        A request's objects often end up in reference cycles that only a full collection frees
        (issue 19); what the loaders hold (the futures and the rows they loaded, most of a
        request's garbage) is then freed by refcounting at once instead.
        """
        for loader in fields(self):
            getattr(self, loader.name).clear_all()


__all__ = [
    "HistoryKey",
    "LoaderEnv",
    "Loaders",
    "MentionPageKey",
    "StockPageKey",
    "TrendingKey",
]
