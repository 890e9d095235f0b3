"""Per-request DataLoaders; build a fresh `Loaders` for every request, inside the running loop."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from loaders.base import Loader, LoaderEnv
from loaders.mentions import MentionByIdLoader, MentionPageKey, MentionPageLoader
from loaders.quotes import QuoteLoader
from loaders.sentiment import HistoryKey, SentimentByStockLoader, SentimentHistoryLoader
from loaders.stocks import StockByIdLoader, StockBySymbolLoader, StockPageKey, StockPageLoader
from loaders.trending import TrendingKey, TrendingLoader


class Loaders:
    """A request's loaders, each built at its first use: a request needs a few of the ten (a
    StockDetail four), and building one costs a DataLoader and an event-loop lookup.

    `Loaders(env, name=loader, ...)` presets some (the naive bench builds its own).
    """

    def __init__(self, env: LoaderEnv, **preset: Loader[Any, Any]) -> None:
        unknown = set(preset) - set(NAMES)
        if unknown:
            raise TypeError(f"unknown loaders: {sorted(unknown)}")
        self.env = env  # the request's environment, which every loader shares
        self.__dict__.update(preset)

    @classmethod
    def build(cls, env: LoaderEnv) -> Loaders:
        return cls(env)

    @cached_property
    def stock_by_id(self) -> StockByIdLoader:
        return StockByIdLoader(self.env)

    @cached_property
    def stock_by_symbol(self) -> StockBySymbolLoader:
        return StockBySymbolLoader(self.env, self.stock_by_id)

    @cached_property
    def stock_page(self) -> StockPageLoader:
        return StockPageLoader(self.env, self.stock_by_id)

    @cached_property
    def sentiment(self) -> SentimentByStockLoader:
        return SentimentByStockLoader(self.env)

    @cached_property
    def hourly_history(self) -> SentimentHistoryLoader:
        return SentimentHistoryLoader(self.env, "HOUR")

    @cached_property
    def daily_history(self) -> SentimentHistoryLoader:
        return SentimentHistoryLoader(self.env, "DAY")

    @cached_property
    def mention_by_id(self) -> MentionByIdLoader:
        return MentionByIdLoader(self.env)

    @cached_property
    def mention_page(self) -> MentionPageLoader:
        return MentionPageLoader(self.env, self.mention_by_id)

    @cached_property
    def trending(self) -> TrendingLoader:
        return TrendingLoader(self.env, self.stock_by_id)

    @cached_property
    def quote(self) -> QuoteLoader:
        return QuoteLoader(self.env)

    def built(self) -> list[Loader[Any, Any]]:
        """The loaders built so far (or preset)."""
        return [self.__dict__[name] for name in NAMES if name in self.__dict__]

    def release(self) -> None:
        """Drop every value and future the loaders hold, once the request is answered.

        A request's objects often end up in reference cycles that only a full collection frees
        (issue 19); what the loaders hold (the futures and the rows they loaded, most of a
        request's garbage) is then freed by refcounting at once instead.
        """
        for loader in self.built():
            loader.clear_all()


NAMES = tuple(name for name, value in vars(Loaders).items() if isinstance(value, cached_property))


__all__ = [
    "HistoryKey",
    "LoaderEnv",
    "Loaders",
    "MentionPageKey",
    "StockPageKey",
    "TrendingKey",
]
