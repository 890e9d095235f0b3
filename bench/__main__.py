"""`python -m bench seed|run|users|soak|peers|profile`: benchmarks against a seeded PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from bench.config import BenchConfig
from bench.report import save
from bench.seed import SeedSize, seed
from bench.workload import MIX


def cmd_seed(args: argparse.Namespace, config: BenchConfig) -> int:
    asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    return 0


def cmd_run(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.run import RunOptions, render, run_benchmark

    size = asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    options = RunOptions(
        workers=args.workers,
        duration_s=args.duration,
        concurrency=args.concurrency,
        max_requests=args.max_requests,
        stocks=size.stocks,
        only=args.only,
        as_tier=args.as_tier,
    )
    report = run_benchmark(config, options)
    report["seed"] = {"stocks": size.stocks, "mentions": size.mentions, "days": size.days}
    print(render(report))
    name = f"run-w{args.workers}" + (f"-{args.only}" if args.only else "")
    name += "-internal" if args.as_tier == "internal" else ""
    print(f"saved {save(name, report, args.out)}")
    return 0


def cmd_users(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.scenarios import render_users, run_users

    asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    steps = [int(x) for x in args.steps.split(",")]
    report = run_users(
        config, args.workers, steps, args.step_seconds, args.think, args.live_share, args.ingest
    )
    print(render_users(report))
    print(f"saved {save(f'users-w{args.workers}', report, args.out)}")
    return 0


def cmd_soak(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.scenarios import render_soak, run_soak

    asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    report = run_soak(
        config, args.workers, args.requests, args.warmup, args.concurrency, args.max_duration,
        args.churn, args.churn_batch, args.churn_pause, args.settle,
    )  # fmt: skip
    print(render_soak(report))
    print(f"saved {save(f'soak-w{args.workers}', report, args.out)}")
    return 0


def cmd_profile(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.profile import profile_operations, render_profile

    asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    report = asyncio.run(profile_operations(config, args.repeat))
    print(render_profile(report))
    print(f"saved {save('profile', report, args.out)}")
    return 0


def cmd_cluster(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.cluster import ClusterSpec, render, run_cluster
    from bench.config import bench_key

    asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    spec = ClusterSpec(
        instances=args.instances, users=args.users, subscribers=args.subscribers,
        duration_s=args.duration, kill_at_s=args.kill_at, think_s=args.think,
        redis_cluster=args.redis_cluster,
    )  # fmt: skip
    with bench_key(config, "bench-cluster", ("read", "ingest")) as token:
        report = run_cluster(spec, config, token)
    print(render(report))
    print(f"saved {save(f'cluster-n{args.instances}', report, args.out)}")
    return 0


def cmd_partitions(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.partition_bench import Target, render, run
    from bench.partition_setup import prepare, replica_pair

    flat, part, migrate_s = asyncio.run(prepare(config.database_url))
    targets = [Target("unpartitioned", flat), Target("partitioned", part)]
    pair = replica_pair(part) if args.replica else None
    try:
        if pair is not None:
            targets += [
                Target("private primary", pair.primary.url),
                Target("primary + replica", pair.primary.url, pair.replica.url),
            ]
        report = asyncio.run(run(targets, args.stocks, args.per_op, args.rounds))
    finally:
        if pair is not None:
            pair.destroy()
    report["migrate_0003_s"] = migrate_s
    print(render(report))
    print(f"saved {save('partitions', report, args.out)}")
    return 0


def cmd_peers(args: argparse.Namespace, config: BenchConfig) -> int:
    from bench.peers.run import PeersOptions, render, run_peers

    size = asyncio.run(seed(config, SeedSize(args.stocks, args.mentions, args.days)))
    options = PeersOptions(
        duration_s=args.duration,
        concurrency=args.concurrency,
        warmup_requests=args.warmup,
        rounds=args.rounds,
        stocks=size.stocks,
        only=args.only,
        peer_port=args.peer_port,
        gzip=args.gzip,
    )
    report = run_peers(config, options)
    print(render(report))
    print(f"saved {save('peers' + (f'-{args.only}' if args.only else ''), report, args.out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_size(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--stocks", type=int, default=500)
        p.add_argument("--mentions", type=int, default=2_000_000)
        p.add_argument("--days", type=int, default=30)
        p.add_argument("--out", type=Path, help="where to save the JSON report")
        return p

    with_size(sub.add_parser("seed", help="create and fill the bench database once")).set_defaults(
        handler=cmd_seed
    )
    run = with_size(sub.add_parser("run", help="the reference mix, real server vs naive"))
    run.add_argument("--workers", type=int, choices=[1, 2], default=1)
    run.add_argument("--duration", type=float, default=30.0, help="seconds per server")
    run.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    run.add_argument("--max-requests", type=int, default=20_000, help="cap per server")
    run.add_argument("--only", choices=sorted(MIX), help="one operation instead of the mix")
    run.add_argument(
        "--as", dest="as_tier", choices=["anonymous", "internal"], default="anonymous",
        help="anonymous (the public frontend: shared response cache) or an internal API key",
    )  # fmt: skip
    run.set_defaults(handler=cmd_run)

    users = with_size(sub.add_parser("users", help="simulated users ramping up, with think time"))
    users.add_argument("--workers", type=int, choices=[1, 2], default=2)
    users.add_argument("--steps", default="50,100,250,500,1000,2500,5000,10000")
    users.add_argument("--step-seconds", type=float, default=15.0)
    users.add_argument("--think", type=float, default=5.0, help="mean think time, seconds")
    users.add_argument("--live-share", type=float, default=0.2, help="users with a subscription")
    users.add_argument("--ingest", type=float, default=2.0, help="mentions ingested per second")
    users.set_defaults(handler=cmd_users)

    soak = with_size(sub.add_parser("soak", help="RSS before and after many requests"))
    soak.add_argument("--workers", type=int, choices=[1, 2], default=1)
    soak.add_argument("--requests", type=int, default=100_000)
    soak.add_argument("--warmup", type=int, default=2_500)
    soak.add_argument("--concurrency", type=int, default=16)
    soak.add_argument("--max-duration", type=float, default=300.0, help="seconds per phase")
    soak.add_argument("--churn", type=int, default=10_000, help="live connections opened+closed")
    soak.add_argument("--churn-batch", type=int, default=1000, help="connections open at once")
    soak.add_argument("--churn-pause", type=float, default=10.0, help="seconds between batches")
    soak.add_argument(
        "--settle", type=float, default=0.0,
        help="seconds idle before each RSS reading (e.g. MEMORY_TRIM_INTERVAL_S: retained memory)",
    )  # fmt: skip
    soak.set_defaults(handler=cmd_soak)

    cluster = with_size(
        sub.add_parser("cluster", help="N instances behind HAProxy, one killed mid-run")
    )
    cluster.add_argument("--instances", type=int, default=3, help="app instances (1 worker each)")
    cluster.add_argument("--users", type=int, default=200, help="browsing users")
    cluster.add_argument("--subscribers", type=int, default=50, help="live subscribers")
    cluster.add_argument("--duration", type=float, default=60.0, help="seconds in all")
    cluster.add_argument("--kill-at", type=float, default=20.0, help="seconds before the kill")
    cluster.add_argument("--think", type=float, default=1.0, help="mean think time, seconds")
    cluster.add_argument(
        "--redis-cluster", action="store_true", help="on a private 3-master Redis Cluster"
    )
    cluster.set_defaults(handler=cmd_cluster)

    parts = sub.add_parser(
        "partitions", help="the mix on unpartitioned vs partitioned copies, and with a replica"
    )
    parts.add_argument("--stocks", type=int, default=500)
    parts.add_argument("--per-op", type=int, default=40, help="distinct requests per operation")
    parts.add_argument("--rounds", type=int, default=3, help="times each request is repeated")
    parts.add_argument("--replica", action="store_true", help="also a private primary + replica")
    parts.add_argument("--out", type=Path, help="where to save the JSON report")
    parts.set_defaults(handler=cmd_partitions)

    peers = with_size(sub.add_parser("peers", help="cache modes against PostGraphile 4"))
    peers.add_argument("--duration", type=float, default=8.0, help="seconds per cell")
    peers.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    peers.add_argument("--warmup", type=int, default=50, help="requests before each cell")
    peers.add_argument("--rounds", type=int, default=1, help="rounds; the median is reported")
    peers.add_argument("--only", choices=["MentionFeed", "StockList", "StockDetail"])
    peers.add_argument("--peer-port", type=int, help="PostGraphile's port (naive port + 1)")
    peers.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    peers.set_defaults(handler=cmd_peers)

    prof = with_size(sub.add_parser("profile", help="where the time of each operation goes"))
    prof.add_argument("--repeat", type=int, default=30, help="requests per operation")
    prof.set_defaults(handler=cmd_profile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args, BenchConfig.from_env()))


if __name__ == "__main__":
    raise SystemExit(main())
