"""The peer harness without Node: its computed columns equal InsiteChart's loaders, and its
comparison and ratios do what the table says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from app.db import Database
from app.timeutil import utcnow
from bench.peers.operations import OPERATIONS, POSTGRAPHILE, differences, operation
from bench.peers.run import median_cell, ratios
from bench.peers.sql import computed_columns
from loaders import HistoryKey, LoaderEnv, Loaders
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock

UP = "$AAA is great, love it, superb"
DOWN = "$AAA is awful, terrible, hate it"


def test_answers_differing_only_in_notation_or_cursors_are_the_same() -> None:
    ours = {"a": [{"cursor": "x1", "t": "2026-12-06T21:01:37.171520+00:00", "s": 0.0781}]}
    theirs = {"a": [{"cursor": "y9", "t": "2026-12-06T21:01:37.17152+00:00", "s": 0.0782}]}
    assert differences(ours, theirs) == []


def test_answers_with_other_values_or_shapes_differ() -> None:
    assert differences({"s": 0.1}, {"s": 0.2}) == [".s: 0.1 != 0.2"]
    assert differences({"a": [1, 2]}, {"a": [1]}) == [".a: 2 items != 1"]
    assert differences({"a": "POSITIVE"}, {"a": "NEUTRAL"}) == [".a: 'POSITIVE' != 'NEUTRAL'"]
    assert differences({"a": 1}, {"b": 1}) == [": fields ['a'] != ['b']"]
    assert differences({"t": "2026-12-06T21:00:00+00:00"}, {"t": "2026-12-06T22:00:00+00:00"})


def test_every_operation_has_a_twin_with_the_same_variables() -> None:
    assert set(POSTGRAPHILE) == set(OPERATIONS)
    for name in OPERATIONS:
        ours, theirs = operation(name, "app"), operation(name, "postgraphile")
        assert ours.query != theirs.query
        assert ("$symbol" in ours.query) == ("$symbol" in theirs.query)


def test_ratios_divide_by_postgraphile_and_median_takes_the_middle_round() -> None:
    rounds = [{"rps": 30.0}, {"rps": 10.0}, {"rps": 20.0}]
    assert median_cell(rounds)["rps"] == 20.0
    assert median_cell(rounds)["rps_rounds"] == [30.0, 10.0, 20.0]
    cells = {"postgraphile": {"rps": 40.0}, "response": {"rps": 120.0}, "none": {"rps": 10.0}}
    assert ratios(cells) == {"response": 3.0, "none": 0.25}
    assert ratios({"postgraphile": {"rps": 0.0}, "none": {"rps": 1.0}}) == {"none": None}


async def test_computed_columns_equal_the_loaders(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("PostGraphile's computed columns are PostgreSQL functions")
    now = utcnow()
    async with db.sessionmaker.begin() as session:
        stock = await make_stock(session, "AAA")
        await make_mentions(session, stock.id, [now, now - timedelta(hours=3)], UP)
        await make_mentions(session, stock.id, [now - timedelta(hours=1)], DOWN)
        await make_mentions(session, stock.id, [now - timedelta(hours=30)], DOWN)
    loaders = Loaders.build(LoaderEnv(db=db, now=now))
    sentiment = await loaders.sentiment.load(stock.id)
    history = await loaders.hourly_history.load(HistoryKey(stock.id, 48))
    assert sentiment is not None
    async with computed_columns(db.engine), db.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT (stocks_sentiment(s)).* FROM stocks s WHERE s.id = :id"),
                {"id": stock.id},
            )
        ).one()
        points = (
            await conn.execute(
                text(
                    "SELECT h.* FROM stocks s, stocks_sentiment_history(s, 48) h WHERE s.id = :id"
                ),
                {"id": stock.id},
            )
        ).all()
        labels = (
            await conn.execute(
                text(
                    "SELECT peer_mentions_label(m) FROM peer_mentions m "
                    "WHERE m.stock_id = :id ORDER BY m.published_at"
                ),
                {"id": stock.id},
            )
        ).scalars()
        # The peer reads mentions through the view (PostGraphile 4 skips partitioned tables).
        assert list(labels) == ["NEGATIVE", "POSITIVE", "NEGATIVE", "POSITIVE"]
    assert (row.mention_count24h, row.positive_mentions, row.negative_mentions) == (
        sentiment.mention_count,
        sentiment.positive,
        sentiment.negative,
    )
    assert abs(row.compound_score - sentiment.compound_score) <= 1.5e-4
    assert row.updated_at == sentiment.updated_at
    assert [(p.bucket_start, p.mention_count) for p in points] == [
        (p.bucket_start, p.mention_count) for p in history
    ]
    assert sum(p.mention_count for p in points) == 4
