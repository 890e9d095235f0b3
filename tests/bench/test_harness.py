"""The benchmark harness: its results have the fields reported, and the naive baseline is naive."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.timeutil import utcnow
from bench.config import bench_settings, read_operations
from bench.loadgen import LoadSpec, drive
from bench.scenarios import rss_growth
from bench.sqlcount import count_per_operation
from bench.stats import Samples, percentile, summarize
from bench.userload import saturation
from bench.workload import MIX, Request, Workload
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock
from tests.factories.universe import make_universe

STOCKS = 6
FIELDS = {
    "requests", "errors", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms",
    "cache_hits", "cache_misses", "cache_hit_ratio",
}  # fmt: skip


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 99) == 99.0
    assert percentile([], 95) == 0.0


def test_summary_counts_errors_and_rates() -> None:
    ok, bad = Samples(), Samples()
    for ms in (10.0, 20.0, 30.0):
        ok.add(ms, None)
    bad.add(5.0, "HTTP 500")
    out = summarize({"A": ok, "B": bad}, elapsed_s=2.0)
    assert out["A"]["rps"] == 1.5 and out["A"]["errors"] == 0
    assert out["B"]["error_rate"] == 1.0 and out["B"]["first_error"] == "HTTP 500"
    assert out["ALL"]["requests"] == 4 and out["ALL"]["errors"] == 1


def test_workload_draws_every_operation_of_the_mix_with_known_symbols() -> None:
    workload = Workload(read_operations(), STOCKS, seed=3)
    drawn = [workload.next() for _ in range(400)]
    assert {r.name for r in drawn} == set(MIX)
    symbols = {r.variables["symbol"] for r in drawn if r.name == "StockDetail"}
    assert symbols <= {f"S{i:03d}" for i in range(STOCKS)}


async def test_naive_baseline_runs_more_statements_with_the_same_results(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, STOCKS, 4)
    operations = read_operations()
    fixed: dict[str, dict[str, Any]] = {
        "StockDetail": {"symbol": "S001"},
        "StockList": {},
        "PartnerScores": {"symbols": ["S000", "S003", "NOPE", "S005"]},
        "Trending": {"window": "DAY"},
        "MentionFeed": {},
    }
    requests = [Request(name, operations[name], fixed[name]) for name in MIX]
    counts = await count_per_operation(settings, requests)
    assert set(counts) == set(MIX)
    for name, count in counts.items():
        assert count["results_match"], name
    # One statement per loader level against one per relation per row.
    assert counts["MentionFeed"]["real"] == 3
    assert counts["MentionFeed"]["naive"] == 1 + STOCKS + 2 * STOCKS * 4
    for name in ("MentionFeed", "StockList", "Trending", "PartnerScores"):
        assert counts[name]["naive"] > counts[name]["real"], name


async def test_load_generator_reports_every_field_per_operation(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, STOCKS, 3)
    app = create_app(bench_settings(settings))
    async with app.router.lifespan_context(app):
        spec = LoadSpec(url="http://bench", concurrency=4, duration_s=60, max_requests=60,
                        stocks=STOCKS)  # fmt: skip
        result = await drive(spec, transport=httpx.ASGITransport(app=app))
    ops = result["ops"]
    assert ops["ALL"]["requests"] == 60
    assert ops["ALL"]["errors"] == 0, ops["ALL"]["first_error"]
    assert set(ops) - {"ALL"} <= set(MIX)
    for summary in ops.values():
        assert FIELDS <= set(summary)
        assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]


@pytest.mark.parametrize("name", ["MentionFeed", "Trending"])
async def test_naive_statements_grow_with_the_stocks_while_real_ones_do_not(
    db: Database, settings: Settings, name: str
) -> None:
    await make_universe(db, 2, 2)
    small = await count_per_operation(settings, [Workload(read_operations(), 2).request(name)])
    await add_stocks(db, 5)
    large = await count_per_operation(settings, [Workload(read_operations(), 2).request(name)])
    assert large[name]["real"] == small[name]["real"]
    assert large[name]["naive"] > small[name]["naive"]


async def add_stocks(db: Database, count: int) -> None:
    """Add `count` stocks (T000, ...) with a recent mention each: longer lists, same shape."""
    async with db.sessionmaker.begin() as session:
        for i in range(count):
            stock = await make_stock(session, f"T{i:03d}")
            await make_mentions(session, stock.id, [utcnow() - timedelta(minutes=i + 1)])


def test_workload_limited_to_one_operation_draws_only_it() -> None:
    workload = Workload(read_operations(), STOCKS, seed=3, only="MentionFeed")
    assert {workload.next().name for _ in range(50)} == {"MentionFeed"}


def test_saturation_is_where_throughput_stops_growing_with_users() -> None:
    def step(users: int, rps: float, p95: float) -> dict[str, Any]:
        return {"users": users, "rps": rps, "p95_ms": p95, "error_rate": 0.0}

    steps = [step(50, 10, 300), step(100, 20, 150), step(250, 21, 4000)]
    found = saturation(steps)
    assert found["max_users_within_target"] == 100
    assert found["saturated_at_users"] == 250
    assert found["peak_rps"] == 21 and found["reached_users"] == 250


async def test_load_generator_counts_response_cache_hits_anonymous_and_none_with_a_key(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, STOCKS, 3)
    token, _ = await create_key(db, "bff", tier="internal")
    app = create_app(bench_settings(settings))
    spec = LoadSpec(url="http://bench", concurrency=1, max_requests=40, stocks=STOCKS,
                    only="Trending")  # fmt: skip
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        anonymous = (await drive(spec, transport=transport))["ops"]["Trending"]
        keyed = await drive(replace(spec, token=token), transport=transport)
    # Three windows asked 40 times: a miss the first time each, hits after.
    assert anonymous["cache_misses"] == 3 and anonymous["cache_hits"] == 37
    assert anonymous["cache_hit_ratio"] == round(37 / 40, 3)
    # With an API key the shared response cache is neither read nor written.
    trending = keyed["ops"]["Trending"]
    assert trending["errors"] == 0, trending["first_error"]
    assert (trending["cache_hits"], trending["cache_misses"], trending["cache_hit_ratio"]) == (
        0, 0, None,
    )  # fmt: skip


def test_soak_growth_separates_a_high_water_mark_from_a_steady_climb() -> None:
    plateau = rss_growth(100.0, [100.0, 110.0, 120.0, 120.0, 120.0, 120.0], 120.0)
    assert (plateau["rss_growth_pct"], plateau["rss_growth_second_half_pct"]) == (20.0, 0.0)
    climb = rss_growth(100.0, [100.0, 104.0, 108.0, 112.0, 116.0, 120.0], 124.0)
    assert (climb["rss_growth_pct"], climb["rss_mid_mb"]) == (24.0, 112.0)
    assert climb["rss_growth_second_half_pct"] == round(12 / 112 * 100, 2)
