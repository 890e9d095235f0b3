"""The operations both servers answer: InsiteChart's reference documents and PostGraphile's twins.

Each twin selects the same data as the reference operation, in PostGraphile 4's schema over the
same tables (with pg-simplify-inflector, and the computed columns of bench/peers/sql.py): the
same rows, the same derived values, the same nesting. Aliases give the answers InsiteChart's
names (`compoundScore: compound`, `stock: stockBySymbol`), so the two answers are equal but for
the cursors, which each server encodes its own way (see `same_answer`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.config import read_operations
from bench.workload import popular_symbol

OPERATIONS = ("MentionFeed", "StockList", "StockDetail")

POSTGRAPHILE: dict[str, str] = {
    "MentionFeed": """
query MentionFeed {
  stocks(first: 50, orderBy: SYMBOL_ASC) {
    nodes {
      symbol
      mentions(first: 10, orderBy: [PUBLISHED_AT_DESC, ID_DESC]) {
        nodes {
          text
          publishedAt
          compoundScore: compound
          stock { symbol sentiment { compoundScore label } }
        }
      }
    }
  }
}""",
    "StockList": """
query StockList($first: Int! = 50) {
  stocks(first: $first, orderBy: SYMBOL_ASC) {
    pageInfo { hasNextPage endCursor }
    nodes {
      symbol
      name
      sector
      sentiment {
        compoundScore label mentionCount24h: mentionCount24H
        positiveMentions negativeMentions neutralMentions
      }
    }
  }
}""",
    "StockDetail": """
query StockDetail($symbol: String!) {
  stock: stockBySymbol(symbol: $symbol) {
    symbol
    name
    exchange
    sector
    industry
    sentiment { compoundScore label mentionCount24h: mentionCount24H updatedAt }
    sentimentHistory: sentimentHistoryList(last: 48) { bucketStart compoundScore mentionCount }
    mentions(first: 20, orderBy: [PUBLISHED_AT_DESC, ID_DESC]) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        id source author text url publishedAt compoundScore: compound label
      } }
    }
  }
}""",
}


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation as a server of `peer` ("insitechart" or "postgraphile") is sent it."""

    name: str
    query: str

    def variables(self, rng: random.Random, stocks: int) -> dict[str, Any]:
        """The variables of the next request; the same draws for both servers, seed for seed."""
        if self.name == "StockDetail":
            return {"symbol": popular_symbol(rng, stocks)}
        return {}


def operation(name: str, peer: str) -> Operation:
    if name not in OPERATIONS:
        raise ValueError(f"unknown operation {name!r}; one of {', '.join(OPERATIONS)}")
    if peer == "postgraphile":
        return Operation(name, POSTGRAPHILE[name])
    return Operation(name, read_operations()[name])


CURSOR_FIELDS = frozenset({"cursor", "endCursor"})
SCORE_TOLERANCE = 1.5e-4  # one unit of the 4th decimal: a tie rounded the other way


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where two answers differ, cursors aside (each server encodes its own), at most a few."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.keys() != theirs.keys():
            return [f"{path}: fields {sorted(ours)} != {sorted(theirs)}"]
        out: list[str] = []
        for key in ours:
            if key not in CURSOR_FIELDS:
                out += differences(ours[key], theirs[key], f"{path}.{key}")
        return out[:5]
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items != {len(theirs)}"]
        out = []
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out[:5]
    return [] if same_leaf(ours, theirs) else [f"{path}: {ours!r} != {theirs!r}"]


def same_leaf(ours: Any, theirs: Any) -> bool:
    """Equal values, whatever each server's notation: PostgreSQL trims a timestamp's trailing
    zeros, and rounds to 4 decimals in numeric where Python rounds the binary float."""
    if isinstance(ours, float) or isinstance(theirs, float):
        numbers = isinstance(ours, int | float) and isinstance(theirs, int | float)
        return numbers and abs(float(ours) - float(theirs)) <= SCORE_TOLERANCE
    if isinstance(ours, str) and isinstance(theirs, str) and ours != theirs:
        try:
            return datetime.fromisoformat(ours) == datetime.fromisoformat(theirs)
        except ValueError:
            return False
    return bool(ours == theirs)
