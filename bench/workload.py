"""The realistic mix of reference operations, with stocks chosen by the seed's popularity skew."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from schema.cursors import encode_stock

# Share of each reference operation in the mix: mostly stock pages and the overview list.
MIX: dict[str, int] = {
    "StockDetail": 40,
    "StockList": 25,
    "PartnerScores": 15,
    "Trending": 10,
    "MentionFeed": 10,
}
SECTORS = ("Information Technology", "Health Care", "Financials", "Energy", "Utilities")


@dataclass(frozen=True, slots=True)
class Request:
    name: str
    query: str
    variables: dict[str, Any]


def popular_symbol(rng: random.Random, stocks: int) -> str:
    """A symbol drawn with the seed's skew: the same u^3 popularity, the same permutation."""
    index = (int(stocks * rng.random() ** 3) * 7919) % stocks
    return f"S{index:03d}"


class Workload:
    """Draws requests of the mix; deterministic for a given seed."""

    def __init__(
        self, operations: dict[str, str], stocks: int, seed: int = 1, only: str | None = None
    ) -> None:
        self.operations = operations
        self.stocks = stocks
        self.rng = random.Random(seed)
        mix = {only: 1} if only else MIX
        self.names = list(mix)
        self.weights = [mix[n] for n in self.names]

    def next(self) -> Request:
        name = self.rng.choices(self.names, self.weights)[0]
        return self.request(name)

    def request(self, name: str) -> Request:
        return Request(name, self.operations[name], self.variables(name))

    def variables(self, name: str) -> dict[str, Any]:
        rng = self.rng
        if name == "StockDetail":
            return {"symbol": popular_symbol(rng, self.stocks)}
        if name == "PartnerScores":
            count = rng.randint(5, 50)
            return {"symbols": [popular_symbol(rng, self.stocks) for _ in range(count)]}
        if name == "StockList":
            variables: dict[str, Any] = {}
            roll = rng.random()
            if roll < 0.3:  # a later page of the overview
                variables["after"] = encode_stock(f"S{rng.randrange(self.stocks):03d}")
            elif roll < 0.5:
                variables["sector"] = rng.choice(SECTORS)
            return variables
        if name == "Trending":
            return {"window": rng.choice(("DAY", "DAY", "HOUR", "WEEK"))}
        return {}
