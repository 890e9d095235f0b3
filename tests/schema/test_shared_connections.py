"""What the schema builds from a loader value is built once while the value lives: the field
cache hands one decoded page or row to request after request (schema/built.py)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import orjson

from app.cache.core import Decoded
from loaders.rows import History, MentionPage, MentionRow, PointRow, SentimentRow
from loaders.sentiment import SentimentHistoryLoader
from schema import cursors, types
from schema.built import COMPLETED, BuiltOnce
from schema.types import MentionConnection

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)


def page_of(count: int) -> MentionPage:
    rows = tuple(
        MentionRow(i, 1, "REDDIT", f"r-{i}", None, f"$S00{i} up", None, AT, 0.5)
        for i in range(count)
    )
    return MentionPage(rows, has_next=True)


def test_a_page_read_again_gives_the_same_connection_until_it_is_freed() -> None:
    page = page_of(3)
    first = MentionConnection.from_page(page)
    assert MentionConnection.from_page(page) is first
    assert [m.text for m in first.nodes] == ["$S000 up", "$S001 up", "$S002 up"]
    assert first.page_info.has_next_page and first.page_info.end_cursor is not None
    equal = page_of(3)  # the same rows in another page: built for itself
    assert MentionConnection.from_page(equal) is not first
    held = len(types._MENTION_CONNECTIONS)
    del page, equal
    assert len(types._MENTION_CONNECTIONS) == held - 2  # freed with their pages


def test_built_once_per_live_source_and_forgotten_with_it() -> None:
    calls: list[int] = []

    def build(page: MentionPage) -> tuple[int, bool]:
        calls.append(len(page.rows))
        return (len(page.rows), page.has_next)

    built = BuiltOnce(build)
    pages = [page_of(i % 4) for i in range(100)]
    assert [built(p) for p in pages] == [built(p) for p in pages]
    assert len(calls) == 100 and len(built) == 100
    del pages
    gc.collect()
    assert len(built) == 0  # nothing accumulates: a request's pages take what it built along
    assert built(page_of(2)) == (2, True) and len(calls) == 101


def test_a_history_read_again_gives_the_same_points_until_it_is_freed() -> None:
    """A stock's history (48 hourly points on its page) decoded once serves every request: its
    points are built once, and a history read from SQL for one request is freed with it."""
    history = History(tuple(PointRow(AT, 0.25 * i, i, i, 0, 0) for i in range(3)))
    points = types.POINTS(history)
    assert types.POINTS(history) is points
    assert [(p.compound_score, p.mention_count) for p in points] == [(0.0, 0), (0.25, 1), (0.5, 2)]
    other = History(history.rows)  # equal, another value: its own points
    assert types.POINTS(other) is not points and types.POINTS(other) == points
    held = len(types.POINTS)
    del history, other
    assert len(types.POINTS) == held - 2


def test_a_history_round_trips_through_its_cache_codec_and_is_kept_decoded() -> None:
    codec = SentimentHistoryLoader.cache_codec
    history = History(tuple(PointRow(AT, 0.1, 1, 1, 0, 0) for _ in range(2)))
    assert codec.load(orjson.loads(orjson.dumps(codec.dump(history)))) == history
    decoded = Decoded()
    blob = orjson.dumps([1, 2e9, codec.dump(history)])
    first = decoded.read(codec, blob)
    assert first is not None and first[1] == history
    assert decoded.read(codec, bytes(blob)) is first and decoded.parsed == 1


def test_a_connections_edges_are_built_once_while_it_lives() -> None:
    """The edges (each with its encoded cursor) of a shared connection are shared with it."""
    page = page_of(3)
    connection = MentionConnection.from_page(page)
    edges = types._mention_edges(connection)
    assert types._mention_edges(connection) is edges
    assert [e.node for e in edges] == connection.nodes
    assert [e.cursor for e in edges] == [
        cursors.encode_mention(r.published_at, r.id) for r in page.rows
    ]
    held = len(types._EDGES)
    del page, connection, edges
    gc.collect()
    assert len(types._EDGES) == held - 1


def test_a_sentiment_row_read_again_gives_the_same_shared_sentiment_until_it_is_freed() -> None:
    row = SentimentRow(7, 0.25, 3, 2, 0, 1, AT)
    sentiment = types._SENTIMENTS(row)
    assert types._SENTIMENTS(row) is sentiment
    assert (sentiment.stock_id, sentiment.compound_score, sentiment.mention_count_24h) == (
        7,
        0.25,
        3,
    )
    assert getattr(sentiment, COMPLETED) == {}  # shared: the executor keeps its completions
    held = len(types._SENTIMENTS)
    del row, sentiment
    gc.collect()
    assert len(types._SENTIMENTS) == held - 1
