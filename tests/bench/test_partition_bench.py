"""`bench partitions`: every target gets the same requests, and each operation its statements,
plan buffers, servers and percentiles."""

from __future__ import annotations

import pytest

from app.db import Database
from bench.partition_bench import Target, render, run
from tests.factories.universe import make_universe


async def test_each_operation_reports_statements_buffers_and_percentiles(
    db: Database, database_url: str
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("plans and buffers are PostgreSQL's")
    await make_universe(db, 6, 5)
    targets = [Target("a", database_url), Target("b", database_url)]

    report = await run(targets, stocks=6, per_op=1, rounds=1)

    assert [t["label"] for t in report["targets"]] == ["a", "b"]
    names = set(report["targets"][0]["ops"])
    assert {"StockDetail", "MentionFeed", "Trending", "DeepPage"} <= names
    for target in report["targets"]:
        assert set(target["ops"]) == names
        for op in target["ops"].values():
            assert op["statements"] >= 1 and op["buffers"] >= 1 and op["n"] == 1
            assert op["p95_ms"] >= op["p50_ms"] > 0
    assert report["targets"][0]["ops"]["MentionFeed"]["statements"] == 3
    assert "MentionFeed" in render(report)
