"""Settings: built once per process (or per test) and passed in; never read at import time."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")
CACHE_TYPES = ("Stock", "Sentiment", "SentimentPoint", "Mention", "trending")
# Anonymous budget in development unless set explicitly: a person exploring in GraphiQL (a large
# query costs ~800 points) never meets it. Production keeps the field defaults (2000, 50/s).
DEVELOPMENT_ANONYMOUS_BUDGET = {
    "budget_anonymous_capacity": 100_000,
    "budget_anonymous_restore_per_s": 5_000.0,
}


def default_sqlite_path() -> Path:
    """The embedded database's file: per user, so every directory sees the same data."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "insitechart" / "insitechart.db"


# What docs/CONFIGURATION.md shows as the default (the real one depends on the user).
SHOWN_DATABASE_URL = (
    "sqlite+aiosqlite:///$XDG_DATA_HOME/insitechart/insitechart.db "
    "(XDG_DATA_HOME defaults to ~/.local/share)"
)


Coding = Literal["br", "gzip"]  # the content codings the server can send


def default_encodings() -> list[Coding]:
    return ["br", "gzip"]


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{default_sqlite_path()}"


class Settings(BaseSettings):
    """Every knob of the service; docs/CONFIGURATION.md is generated from these descriptions."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description=(
            "Database URL: postgresql+asyncpg://... in production, or an SQLite file "
            "(sqlite+aiosqlite:///PATH); the default file is per user, so every directory sees the"
            " same data"
        ),
        json_schema_extra={"shown_default": SHOWN_DATABASE_URL},
    )
    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis URL (redis://, rediss:// or unix://) for the cache, rate-limit buckets and "
            "pub/sub shared by every worker; unset = in-process backends (fine for one process)"
        ),
    )
    app_env: Literal["development", "production"] = Field(
        default="development",
        description=(
            'production turns off GraphiQL, introspection, /openapi.json and every "Did you mean" '
            "hint, protects /metrics (METRICS_TOKEN), logs one bounded JSON line per event and "
            "keeps the anonymous budget at its production default"
        ),
    )
    host: str = Field(default="127.0.0.1", description="Interface `insitechart serve` binds")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `insitechart serve` binds")
    workers: int = Field(
        default=1, ge=1, le=64, description="uvicorn worker processes for `insitechart serve`"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Level of the insitechart loggers"
    )
    db_pool_size: int = Field(
        default=40,
        ge=1,
        le=200,
        description=(
            "PostgreSQL connections kept per worker: sized for the loader batches a burst runs at "
            "once, so none is opened and closed again"
        ),
    )
    db_max_overflow: int = Field(
        default=0, ge=0, le=500, description="Extra PostgreSQL connections per worker under bursts"
    )
    db_pool_timeout_s: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a pooled connection (and to connect)"
    )
    statement_timeout_ms: int = Field(
        default=5000,
        ge=0,
        description="PostgreSQL statement_timeout of every connection, in ms; 0 = none",
    )
    graphiql: bool | None = Field(
        default=None,
        description=(
            "Force GraphiQL on or off; unset = on in development, off in production (its assets "
            "are served by the app, no CDN)"
        ),
    )
    # --- cache ---
    cache_enabled: bool = Field(
        default=True,
        description="Field cache in the loaders (Redis with REDIS_URL, else an in-process LRU)",
    )
    cache_namespace: str = Field(
        default="insitechart",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="Prefix of every cache key (<namespace>:v<shape>:<type>:...)",
    )
    cache_ttl_overrides_s: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'JSON map of TTLs in seconds by type, e.g. {"Stock": 900, "trending": 120}; types: '
            "Stock, Sentiment, SentimentPoint, Mention, trending"
        ),
    )
    cache_memory_max_entries: int = Field(
        default=50_000,
        ge=1,
        description="In-process cache: entries kept before least-recently-used eviction",
    )
    cache_memory_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="In-process cache: bytes of keys and values kept before eviction",
    )
    cache_redis_timeout_ms: int = Field(
        default=40,
        ge=1,
        le=10_000,
        description=(
            "Timeout (ms) of every hot-path Redis command (cache, budgets, APQ, broker); slower "
            "counts as Redis trouble and opens the shared breaker"
        ),
    )
    cache_redis_max_connections: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Redis connections per worker (a bounded pool shared by requests)",
    )
    redis_pipe: bool = Field(
        default=True,
        description=(
            "Send the per-request commands (response-cache hit, budget charge, field-cache "
            "reads) on one pipelined connection per worker (plain redis:// URLs to one server)"
        ),
    )
    cache_breaker_cooldown_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="After Redis trouble, read the database only for this many seconds, then probe",
    )
    cache_lease_ms: int = Field(
        default=2000,
        ge=0,
        le=60_000,
        description=(
            "Lease (ms) a worker takes on a missed key so other workers wait for its load; 0 = off"
        ),
    )
    cache_lease_wait_ms: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="How long (ms) another worker waits for a leased key before loading it itself",
    )
    cache_decoded_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=0,
        le=1024 * 1024 * 1024,
        description=(
            "Field-cache values kept decoded per worker, in stored bytes (held in memory at about "
            "10x that, with what requests completed from them); a value read again is not parsed "
            "again; 0 = none kept"
        ),
    )
    cache_response_enabled: bool = Field(
        default=True,
        description=(
            "Answer repeated public operations from the response cache (no parse, validate or "
            "execute)"
        ),
    )
    cache_response_max_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="Responses larger than this (bytes) are not stored in the response cache",
    )
    cache_response_near_entries: int = Field(
        default=1024,
        ge=0,
        le=1_000_000,
        description=(
            "Response-cache entries each worker keeps to answer again without Redis, while "
            "Redis's client tracking says they are current (one Redis only); 0 = every hit asks "
            "Redis"
        ),
    )
    cache_response_near_max_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        le=1024 * 1024 * 1024,
        description="Bytes of response-cache entries each worker keeps (near hits) at most",
    )
    cache_response_hit_lease: int = Field(
        default=64,
        ge=1,
        le=1_000_000,
        description=(
            "Budget points a worker takes from a caller's bucket at once to charge near hits "
            "(at most a hundredth of the bucket); the rest is refunded at the next top-up"
        ),
    )
    cache_apq_ttl_s: int = Field(
        default=86_400,
        ge=0,
        description="Seconds a registered persisted query (APQ hash) is kept; 0 turns APQ off",
    )
    cache_warm_on_start: bool = Field(
        default=True,
        description="Load trending and the top stocks into the cache when a worker starts",
    )
    cache_warm_interval_s: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="Warm again every N seconds (fills what expired); 0 = only at start",
    )
    cache_warm_top_stocks: int = Field(
        default=20,
        ge=0,
        le=500,
        description="How many of the day's trending stocks get their detail fields warmed",
    )

    @field_validator("cache_ttl_overrides_s")
    @classmethod
    def _check_ttl_overrides(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(CACHE_TYPES))
        if unknown:
            raise ValueError(
                f"CACHE_TTL_OVERRIDES_S: unknown type {unknown[0]!r}; use {', '.join(CACHE_TYPES)}"
            )
        for name, ttl in value.items():
            if not 1 <= ttl <= 86_400:
                raise ValueError(f"CACHE_TTL_OVERRIDES_S[{name!r}] must be 1..86400 s, got {ttl}")
        return value

    # --- execution ---
    executor_compiled: bool = Field(
        default=True,
        description=(
            "Run queries and mutations from plans compiled once per document (same results as "
            "graphql-core, less CPU); false runs graphql-core's executor for everything"
        ),
    )

    # --- observability ---
    trace_enabled: bool = Field(
        default=True,
        description=(
            "The tracing extension; false also stops per-operation metrics and serverStats figures"
        ),
    )
    trace_log: bool = Field(
        default=True, description="One insitechart.trace log line per operation (at info)"
    )
    trace_slowest_resolvers: int = Field(
        default=5,
        ge=0,
        le=100,
        description="How many of the slowest resolver paths the trace line lists",
    )
    trace_slow_resolver_ms: float = Field(
        default=500.0,
        gt=0,
        description="A resolver slower than this (ms) gets its own warning line with its path",
    )
    trace_slow_resolver_lines: int = Field(
        default=5,
        ge=0,
        le=1000,
        description=(
            "At most this many slow-resolver lines per operation (slowest first); one more line "
            "counts the rest"
        ),
    )
    trace_slow_sql_ms: float = Field(
        default=200.0,
        gt=0,
        description=(
            "A statement slower than this (ms) is logged on insitechart.sql with its fingerprint "
            "(cut to 200 characters; cache warming's at debug level)"
        ),
    )
    trace_sql_fingerprints: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Per-fingerprint SQL stats kept per worker (least recent evicted)",
    )
    trace_otel: bool = Field(
        default=False,
        description="OpenTelemetry spans (needs the otel extra and an SDK configured)",
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics")
    metrics_max_operations: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Distinct operation-name labels per worker; later names count as other",
    )
    metrics_window_s: float = Field(
        default=300.0, gt=0, description="Window of serverStats and of the alert rules, in seconds"
    )
    metrics_window_requests: int = Field(
        default=50_000,
        ge=100,
        le=10_000_000,
        description="Requests kept in that window per worker (oldest dropped)",
    )
    metrics_sample_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often (s) CPU, memory, fds, threads and pool use are sampled",
    )
    metrics_loop_lag_interval_s: float = Field(
        default=0.5, gt=0, description="Period (s) of the event-loop lag sampler"
    )
    memory_trim_interval_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description=(
            "How often (s) a worker gives the C heap's free pages back to the system "
            "(malloc_trim, glibc); a full garbage collection follows only "
            "when RSS grew MEMORY_FULL_GC_GROWTH_PCT and the worker is idle "
            "(MEMORY_FULL_GC_IDLE_S); 0 = never"
        ),
    )
    prometheus_multiproc_dir: str | None = Field(
        default=None,
        description=(
            "Metrics directory shared by workers, so /metrics sums them; `serve` with WORKERS > 1 "
            "makes a fresh one if unset (and removes it when it stops)"
        ),
    )
    alert_webhook_url: str | None = Field(
        default=None,
        description="Slack-compatible incoming webhook (http:// or https://); unset = no alerts",
    )
    alert_interval_s: float = Field(
        default=30.0, gt=0, description="How often (s) the alert rules are evaluated"
    )
    alert_cooldown_s: float = Field(
        default=900.0,
        ge=0,
        description=(
            "An alert that fires again within this many seconds of its last message stays silent"
        ),
    )
    alert_timeout_s: float = Field(
        default=5.0, gt=0, description="Webhook request timeout in seconds"
    )
    alert_min_requests: int = Field(
        default=20,
        ge=1,
        description=(
            "Latency and error-rate rules are judged only with this many requests in the window"
        ),
    )
    alert_p95_s: float = Field(
        default=2.0,
        gt=0,
        description="Alert when p95 latency over METRICS_WINDOW_S exceeds this (s)",
    )
    alert_p99_s: float = Field(
        default=5.0, gt=0, description="Alert when p99 latency exceeds this (s)"
    )
    alert_error_rate: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Alert when the share of requests with errors exceeds this (0..1)",
    )
    alert_memory_percent: float = Field(
        default=85.0,
        gt=0,
        le=100,
        description="Alert when the machine's memory use exceeds this (%)",
    )
    alert_cpu_percent: float = Field(
        default=80.0, gt=0, le=100, description="Alert when the machine's CPU use exceeds this (%)"
    )

    @field_validator("alert_webhook_url")
    @classmethod
    def _check_alert_webhook_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("ALERT_WEBHOOK_URL must start with http:// or https://")
        return value

    # --- market quotes ---
    quotes_provider: Literal["simulated", "finnhub"] = Field(
        default="simulated",
        description="simulated (offline random walk, source SIMULATED) or finnhub",
    )
    quotes_base_url: str = Field(
        default="https://finnhub.io",
        description="Base URL of the Finnhub-compatible API (http:// or https://)",
    )
    quotes_token: SecretStr | None = Field(
        default=None, description="API token sent as token=; required when QUOTES_PROVIDER=finnhub"
    )
    quotes_concurrency: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Quote calls in flight per worker (semaphore and connection-pool size)",
    )
    quotes_timeout_ms: int = Field(
        default=2000,
        ge=10,
        le=60_000,
        description="Limit (ms) on one quote call attempt, connect to last byte",
    )
    quotes_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries after a timeout, a transport error, a 5xx or a 429",
    )
    quotes_backoff_base_ms: int = Field(
        default=100,
        ge=0,
        le=60_000,
        description="First retry waits up to this (ms, full jitter), doubling each retry",
    )
    quotes_backoff_max_ms: int = Field(
        default=2000,
        ge=0,
        le=60_000,
        description="Cap (ms) on one backoff wait; must be >= QUOTES_BACKOFF_BASE_MS",
    )
    quotes_retry_after_cap_ms: int = Field(
        default=5000,
        ge=0,
        le=300_000,
        description="Longest wait (ms) a Retry-After header can impose",
    )
    quotes_batch_budget_ms: int = Field(
        default=5000,
        ge=10,
        le=300_000,
        description=(
            "Time (ms) a whole batch of quotes may take; quotes still missing then are null"
        ),
    )
    quotes_breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Failed quotes in a row that open the circuit breaker"
    )
    quotes_breaker_cooldown_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds the breaker stays open before one probe call",
    )
    quotes_cache_ttl_s: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="Seconds a fetched quote is served from the per-worker cache; 0 = no cache",
    )
    quotes_cache_max_entries: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description="Quotes kept in that cache (oldest evicted first)",
    )

    @field_validator("quotes_base_url")
    @classmethod
    def _check_quotes_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("QUOTES_BASE_URL must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_quotes(self) -> Settings:
        if self.quotes_provider == "finnhub" and not (
            self.quotes_token and self.quotes_token.get_secret_value()
        ):
            raise ValueError("QUOTES_TOKEN is required when QUOTES_PROVIDER=finnhub")
        if self.quotes_backoff_base_ms > self.quotes_backoff_max_ms:
            raise ValueError(
                "QUOTES_BACKOFF_BASE_MS must not exceed QUOTES_BACKOFF_MAX_MS "
                f"({self.quotes_backoff_base_ms} > {self.quotes_backoff_max_ms})"
            )
        return self

    # --- limits, cost and budgets ---
    api_key_cache_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description=(
            "Seconds an API key found active is trusted without reading the database again: a "
            "revoked key is refused everywhere within this time (0: read on every request)"
        ),
    )
    limits_max_depth: int = Field(
        default=10,
        ge=1,
        le=100,
        description=(
            "Deepest field nesting of an operation (fragments expanded, introspection not counted)"
        ),
    )
    limits_max_aliases: int = Field(
        default=30, ge=0, le=1000, description="Aliases in an operation"
    )
    limits_max_tokens: int = Field(
        default=2000,
        ge=10,
        le=100_000,
        description="Lexical tokens (and, separately, comments) in a document",
    )
    limits_max_document_bytes: int = Field(
        default=32_768,
        ge=256,
        le=10_485_760,
        description="Size of the GraphQL document in UTF-8 bytes",
    )
    limits_max_root_fields: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Top-level fields of an operation (__typename not counted)",
    )
    limits_max_directives_per_field: int = Field(
        default=5, ge=0, le=100, description="Directives on one field"
    )
    limits_max_selections: int = Field(
        default=400,
        ge=1,
        le=100_000,
        description=(
            "Field selections of an operation, fragments expanded and counted with multiplicity; "
            "checked right after parsing, before validation"
        ),
    )
    limits_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=104_857_600,
        description="HTTP request body to /graphql in bytes (413 above)",
    )
    limits_execution_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Wall-clock seconds for one HTTP GraphQL request (504 above)",
    )
    cost_max_query: int = Field(
        default=5000,
        ge=1,
        description=(
            "Highest cost one operation may ask for (also capped by the client's bucket capacity)"
        ),
    )
    cost_default_list_size: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Size assumed for a list field with no first/last/limit/list argument",
    )
    budget_anonymous_capacity: int = Field(
        default=2000,
        ge=1,
        description=(
            "Cost points of a client without an API key (per IP address); development's default "
            "lets a person explore in GraphiQL without meeting it"
        ),
        json_schema_extra={"shown_default": "2000 in production, 100000 in development"},
    )
    budget_anonymous_restore_per_s: float = Field(
        default=50.0,
        gt=0,
        description="Points per second an anonymous client's bucket refills",
        json_schema_extra={"shown_default": "50 in production, 5000 in development"},
    )
    budget_free_capacity: int = Field(
        default=5000, ge=1, description="Cost points of a free-tier key"
    )
    budget_free_restore_per_s: float = Field(
        default=100.0, gt=0, description="Points per second a free-tier bucket refills"
    )
    budget_partner_capacity: int = Field(
        default=20_000, ge=1, description="Cost points of a partner-tier key"
    )
    budget_partner_restore_per_s: float = Field(
        default=500.0, gt=0, description="Points per second a partner-tier bucket refills"
    )
    budget_internal_capacity: int = Field(
        default=100_000, ge=1, description="Cost points of an internal-tier key"
    )
    budget_internal_restore_per_s: float = Field(
        default=2000.0, gt=0, description="Points per second an internal-tier bucket refills"
    )
    budget_key_prefix: str = Field(
        default="insitechart:budget:", description="Prefix of the Redis keys holding the buckets"
    )

    # --- ingestion and live updates ---
    ingest_max_batch: int = Field(
        default=500, ge=1, le=5000, description="Most mentions one ingestMentions call may carry"
    )
    ingest_max_text_chars: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Longest mention text accepted in characters (TEXT_TOO_LONG beyond)",
    )
    ingest_max_future_skew_s: float = Field(
        default=300.0,
        ge=0,
        description=(
            "How far in the future (s) publishedAt may be (clock skew) before FUTURE_TIMESTAMP"
        ),
    )
    ingest_cli_batch_size: int = Field(
        default=500, ge=1, le=5000, description="Lines per transaction in `insitechart ingest`"
    )
    realtime_max_symbols: int = Field(
        default=50, ge=1, le=1000, description="Most symbols one subscription may name"
    )
    realtime_queue_size: int = Field(
        default=2048,
        ge=1,
        le=100_000,
        description=(
            "Events a mentionAdded subscriber may fall behind before it is disconnected (4008); "
            "keep it above INGEST_MAX_BATCH, a batch arrives as one burst"
        ),
    )
    realtime_max_connections: int = Field(
        default=20_000, ge=1, description="WebSocket connections per worker process (4429 beyond)"
    )
    realtime_max_connections_per_client: int = Field(
        default=100,
        ge=1,
        description=(
            "WebSocket connections per API key or per anonymous address, per worker (4429 beyond)"
        ),
    )
    realtime_init_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a new WebSocket has to send connection_init (4408 after)",
    )
    realtime_channel_prefix: str = Field(
        default="insitechart:",
        max_length=64,
        description=(
            "Prefix of the Redis pub/sub channels (<prefix>mention:AAPL, <prefix>sentiment:AAPL)"
        ),
    )
    realtime_ws_deflate: bool = Field(
        default=False,
        description=(
            "permessage-deflate on WebSockets: off by default, it costs ~40 KiB and CPU per "
            "connection for ~200-byte events"
        ),
    )
    gc_gen0_threshold: int = Field(
        default=10_000,
        ge=0,
        description=(
            "Python's youngest-generation GC threshold while the app runs (start-up objects are "
            "also frozen out of collections, and Python's automatic full collections are off: "
            "the memory upkeep runs them when idle); 0 keeps Python's defaults (700, automatic "
            "full collections); with thousands of WebSockets the default triples tail latency"
        ),
    )
    gc_gen1_threshold: int = Field(
        default=2,
        ge=1,
        le=1000,
        description=(
            "Young collections after which Python also collects the middle generation (its "
            "survivors then stay out of collections until an idle full one); with "
            "GC_GEN0_THRESHOLD it bounds the longest pause; ignored when GC_GEN0_THRESHOLD is 0"
        ),
    )

    # --- realtime fan-out ---
    realtime_direct_writes: bool = Field(
        default=True,
        description=(
            "The live fan-out writes each event's frame straight to every socket that keeps up "
            "(under uvicorn's default WebSocket implementation); false sends every event through "
            "the connection's queue and task"
        ),
    )

    # --- response cache tags ---
    # A shared response showing more stocks than this is tagged with the global `responses` tag,
    # which every ingest bumps, instead of one tag per stock (docs/CACHING.md).
    cache_response_max_tags: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description=(
            "A shared response depending on more stocks than this is invalidated by any ingest "
            "(one global tag) instead of per stock"
        ),
    )

    # --- response compression ---
    compress_min_bytes: int = Field(
        default=1024,
        ge=0,
        le=1_000_000_000,
        description="Responses of at least this many bytes are sent compressed (brotli or gzip, "
        "as the client's Accept-Encoding asks); 0 compresses every response",
    )
    compress_level: int = Field(
        default=5, ge=1, le=9, description="gzip level, 1 (fastest) to 9 (smallest)"
    )
    # Quality 4 costs about gzip level 5's CPU on a 10 KB answer and 0.7-0.85 of it on a 100 KB
    # one, for 7-12% fewer bytes; 5 saves 6-11% more for 1.3-1.9 times gzip's CPU
    # (docs/BENCHMARKS.md, step 7).
    compress_brotli_quality: int = Field(
        default=4, ge=0, le=11, description="brotli quality, 0 (fastest) to 11 (smallest)"
    )
    compress_encodings: Annotated[list[Coding], NoDecode] = Field(
        default_factory=default_encodings,
        min_length=1,
        description="Content codings offered, comma-separated, in the server's preference when a "
        "client weighs them equally (Accept-Encoding q-values decide first)",
        json_schema_extra={"shown_default": "br,gzip"},
    )
    compress_enabled: bool = Field(
        default=True,
        description="Compress responses for clients that send Accept-Encoding with br or gzip",
    )

    @field_validator("compress_encodings", mode="before")
    @classmethod
    def _split_encodings(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v.strip().lower() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("COMPRESS_ENCODINGS: each coding once")
        return value

    # --- query plans of slow SQL ---
    trace_sql_plans: bool = Field(
        default=True,
        description="Explain each slow statement shape once (PostgreSQL, off the request path)",
    )
    trace_sql_plans_kept: int = Field(
        default=100, ge=1, le=10_000, description="Captured plans kept, one per fingerprint"
    )
    trace_sql_large_table_rows: int = Field(
        default=10_000,
        ge=1,
        description="A sequential scan of a table with at least this many rows gets a hint",
    )

    # --- faults ---
    ingest_retry_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="Attempts at storing an ingest batch when the database deadlocks, "
        "fails to serialize or drops the connection (backoff 50 ms, doubling)",
    )
    db_pool_pre_ping: bool = Field(
        default=True,
        description=(
            "Check a pooled connection before use, so the pool heals after a restart "
            "(PostgreSQL: free unless it sat idle DB_POOL_PING_IDLE_S)"
        ),
    )
    db_pool_ping_idle_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds a pooled PostgreSQL connection may sit idle before its checkout pings the "
            "server; one in steady use is checked for a close the server announced only"
        ),
    )

    # --- redis cluster ---
    redis_cluster: bool = Field(
        default=False,
        description=(
            "REDIS_URL names one node of a Redis Cluster: the client finds the others, splits "
            "multi-key reads and writes per hash slot and uses sharded pub/sub (docs/SCALING.md)"
        ),
    )

    # --- durable live events ---
    live_retention_h: float = Field(
        default=24.0,
        ge=0.1,
        le=720.0,
        description="Hours an event stays resumable: an `after` cursor older than this is "
        "refused with CURSOR_EXPIRED, and older events are pruned from the outbox",
    )
    live_poll_interval_ms: int = Field(
        default=500,
        ge=20,
        le=60_000,
        description="Milliseconds between reads of the outbox by each worker when no wake-up "
        "arrived (Redis down, or the ingesting worker died): the delivery delay in that case",
    )
    live_prune_interval_s: float = Field(
        default=300.0,
        ge=1.0,
        le=86_400.0,
        description="Seconds between prunes of events older than LIVE_RETENTION_H",
    )

    # --- memory upkeep ---
    memory_full_gc_growth_pct: float = Field(
        default=5.0,
        ge=0.0,
        le=1000.0,
        description="Percent of RSS growth since the last full garbage collection that makes "
        "the memory upkeep run another, once the worker is idle (a full pass holds the loop: "
        "with 10,000 connections hundreds of ms)",
    )
    memory_full_gc_idle_s: float = Field(
        default=2.0,
        ge=0.0,
        le=600.0,
        description="Window (s) over which a worker must use under 5% of a core before the "
        "memory upkeep runs a full garbage collection (measured, so the pass never holds "
        "requests or live events); 0 = no idle pass, only the forced one",
    )
    memory_full_gc_forced_pct: float = Field(
        default=25.0,
        ge=0.0,
        le=1000.0,
        description="Percent of RSS growth since the last full garbage collection past which the "
        "memory upkeep runs one even while the worker is busy (bounded memory comes before "
        "short pauses); 0 = only when idle",
    )

    @model_validator(mode="before")
    @classmethod
    def _development_budget(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if str(data.get("app_env", "development")).lower() == "production":
            return data
        return {**DEVELOPMENT_ANONYMOUS_BUDGET, **data}

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_database_url_is_the_default(cls, value: Any) -> Any:
        return default_database_url() if value == "" else value

    # --- hostile input ---
    ws_max_message_bytes: int = Field(
        default=65_536,
        ge=1024,
        le=16_777_216,
        description="Largest WebSocket message accepted, in bytes; larger ones close the socket "
        "with 1009 (uvicorn's ws_max_size).",
    )
    realtime_max_operations_per_connection: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Operations one WebSocket may run at once; one more is refused with "
        "TOO_MANY_OPERATIONS.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics asks for; in production /metrics answers 404 "
        "without one configured.",
    )
    log_max_line_chars: int = Field(
        default=4000,
        ge=200,
        le=1_000_000,
        description="Longest JSON log line, in characters; longer messages and tracebacks are cut.",
    )

    # --- mention partitions and read replicas ---
    mentions_partition_interval: Literal["week", "month"] = Field(
        default="week",
        description="The time range of one mentions partition (PostgreSQL, partitioned schema)",
    )
    mentions_partitions_ahead: int = Field(
        default=4, ge=1, le=52, description="Partitions kept created ahead of now, in intervals"
    )
    mentions_retention_days: int = Field(
        default=0,
        ge=0,
        le=36_500,
        description="Drop mention partitions entirely older than this many days; 0 keeps all",
    )
    mentions_partition_maintenance_s: float = Field(
        default=3600.0,
        ge=0,
        le=86_400,
        description="Seconds between the app's partition maintenance passes; 0 turns it off",
    )
    # A comma-separated list in the environment (or a JSON array).
    database_replica_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Read-only PostgreSQL replicas the loaders read from (asyncpg URLs)",
    )
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, le=3600, description="A replica lagging more than this is skipped"
    )
    replica_check_interval_s: float = Field(
        default=2.0, gt=0, le=300, description="Seconds between replica health checks"
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"DATABASE_URL is not a database URL: {exc}") from None
        if url.drivername not in SUPPORTED_DRIVERS:
            supported = ", ".join(f"{d}://" for d in SUPPORTED_DRIVERS)
            raise ValueError(
                f"DATABASE_URL driver {url.drivername!r} is not supported; use {supported}"
            )
        return value

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _check_replica_urls(cls, value: object) -> list[str]:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if not isinstance(value, list):
            raise ValueError("DATABASE_REPLICA_URLS: a comma-separated list of URLs")
        value = [str(v).strip() for v in value if str(v).strip()]
        for item in value:
            if make_url(item).drivername != "postgresql+asyncpg":
                raise ValueError("DATABASE_REPLICA_URLS: each URL must be postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def database_url_safe(self) -> str:
        """The database URL with its password hidden, for logs and error messages."""
        return make_url(self.database_url).render_as_string(hide_password=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
