"""Settings: built once per process (or per test) and passed in; never read at import time."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./insitechart.db"
SUPPORTED_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")
CACHE_TYPES = ("Stock", "Sentiment", "SentimentPoint", "Mention", "trending")


class Settings(BaseSettings):
    """Every knob of the service; each one is listed in the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    app_env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db_pool_size: int = Field(default=40, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=500)
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=5000, ge=0)
    graphiql: bool | None = None
    # --- cache ---
    cache_enabled: bool = True
    cache_namespace: str = Field(default="insitechart", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    cache_ttl_overrides_s: dict[str, float] = Field(default_factory=dict)
    cache_memory_max_entries: int = Field(default=50_000, ge=1)
    cache_memory_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    cache_redis_timeout_ms: int = Field(default=100, ge=1, le=10_000)
    cache_redis_max_connections: int = Field(default=32, ge=1, le=1000)
    cache_breaker_cooldown_s: float = Field(default=5.0, gt=0, le=300)
    cache_lease_ms: int = Field(default=2000, ge=0, le=60_000)
    cache_lease_wait_ms: int = Field(default=200, ge=0, le=10_000)
    cache_response_enabled: bool = True
    cache_response_max_bytes: int = Field(default=512 * 1024, ge=1024)
    cache_apq_ttl_s: int = Field(default=86_400, ge=0)
    cache_warm_on_start: bool = True
    cache_warm_interval_s: float = Field(default=60.0, ge=0, le=86_400)
    cache_warm_top_stocks: int = Field(default=20, ge=0, le=500)

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

    # --- observability ---
    trace_enabled: bool = True
    trace_log: bool = True
    trace_slowest_resolvers: int = Field(default=5, ge=0, le=100)
    trace_slow_resolver_ms: float = Field(default=500.0, gt=0)
    trace_slow_resolver_lines: int = Field(default=5, ge=0, le=1000)
    trace_slow_sql_ms: float = Field(default=200.0, gt=0)
    trace_sql_fingerprints: int = Field(default=500, ge=1, le=100_000)
    trace_otel: bool = False
    metrics_enabled: bool = True
    metrics_max_operations: int = Field(default=200, ge=1, le=10_000)
    metrics_window_s: float = Field(default=300.0, gt=0)
    metrics_window_requests: int = Field(default=50_000, ge=100, le=10_000_000)
    metrics_sample_interval_s: float = Field(default=5.0, gt=0)
    metrics_loop_lag_interval_s: float = Field(default=0.5, gt=0)
    memory_trim_interval_s: float = Field(default=30.0, ge=0, le=86_400)
    prometheus_multiproc_dir: str | None = None
    alert_webhook_url: str | None = None
    alert_interval_s: float = Field(default=30.0, gt=0)
    alert_cooldown_s: float = Field(default=900.0, ge=0)
    alert_timeout_s: float = Field(default=5.0, gt=0)
    alert_min_requests: int = Field(default=20, ge=1)
    alert_p95_s: float = Field(default=2.0, gt=0)
    alert_p99_s: float = Field(default=5.0, gt=0)
    alert_error_rate: float = Field(default=0.05, gt=0, le=1)
    alert_memory_percent: float = Field(default=85.0, gt=0, le=100)
    alert_cpu_percent: float = Field(default=80.0, gt=0, le=100)

    @field_validator("alert_webhook_url")
    @classmethod
    def _check_alert_webhook_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("ALERT_WEBHOOK_URL must start with http:// or https://")
        return value

    # --- market quotes ---
    quotes_provider: Literal["simulated", "finnhub"] = "simulated"
    quotes_base_url: str = "https://finnhub.io"
    quotes_token: SecretStr | None = None
    quotes_concurrency: int = Field(default=10, ge=1, le=200)
    quotes_timeout_ms: int = Field(default=2000, ge=10, le=60_000)
    quotes_retries: int = Field(default=2, ge=0, le=10)
    quotes_backoff_base_ms: int = Field(default=100, ge=0, le=60_000)
    quotes_backoff_max_ms: int = Field(default=2000, ge=0, le=60_000)
    quotes_retry_after_cap_ms: int = Field(default=5000, ge=0, le=300_000)
    quotes_batch_budget_ms: int = Field(default=5000, ge=10, le=300_000)
    quotes_breaker_failures: int = Field(default=5, ge=1, le=1000)
    quotes_breaker_cooldown_s: float = Field(default=30.0, gt=0, le=3600)
    quotes_cache_ttl_s: float = Field(default=60.0, ge=0, le=86_400)
    quotes_cache_max_entries: int = Field(default=10_000, ge=0, le=1_000_000)

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
    limits_max_depth: int = Field(default=10, ge=1, le=100)
    limits_max_aliases: int = Field(default=30, ge=0, le=1000)
    limits_max_tokens: int = Field(default=2000, ge=10, le=100_000)
    limits_max_document_bytes: int = Field(default=32_768, ge=256, le=10_485_760)
    limits_max_root_fields: int = Field(default=20, ge=1, le=1000)
    limits_max_directives_per_field: int = Field(default=5, ge=0, le=100)
    limits_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=104_857_600)
    limits_execution_timeout_s: float = Field(default=10.0, gt=0, le=600)
    cost_max_query: int = Field(default=5000, ge=1)
    cost_default_list_size: int = Field(default=10, ge=1, le=10_000)
    budget_anonymous_capacity: int = Field(default=2000, ge=1)
    budget_anonymous_restore_per_s: float = Field(default=50.0, gt=0)
    budget_free_capacity: int = Field(default=5000, ge=1)
    budget_free_restore_per_s: float = Field(default=100.0, gt=0)
    budget_partner_capacity: int = Field(default=20_000, ge=1)
    budget_partner_restore_per_s: float = Field(default=500.0, gt=0)
    budget_internal_capacity: int = Field(default=100_000, ge=1)
    budget_internal_restore_per_s: float = Field(default=2000.0, gt=0)
    budget_key_prefix: str = "insitechart:budget:"

    # --- ingestion and live updates ---
    ingest_max_batch: int = Field(default=500, ge=1, le=5000)
    ingest_max_text_chars: int = Field(default=10_000, ge=1, le=100_000)
    ingest_max_future_skew_s: float = Field(default=300.0, ge=0)
    ingest_cli_batch_size: int = Field(default=500, ge=1, le=5000)
    realtime_max_symbols: int = Field(default=50, ge=1, le=1000)
    realtime_queue_size: int = Field(default=2048, ge=1, le=100_000)
    realtime_max_connections: int = Field(default=20_000, ge=1)
    realtime_max_connections_per_client: int = Field(default=100, ge=1)
    realtime_init_timeout_s: float = Field(default=5.0, gt=0)
    realtime_channel_prefix: str = Field(default="insitechart:", max_length=64)
    realtime_ws_deflate: bool = False
    gc_gen0_threshold: int = Field(default=100_000, ge=0)

    # --- realtime fan-out ---
    realtime_direct_writes: bool = True

    # --- response cache tags ---
    # A shared response showing more stocks than this is tagged with the global `responses` tag,
    # which every ingest bumps, instead of one tag per stock (docs/CACHING.md).
    cache_response_max_tags: int = Field(default=200, ge=0, le=10_000)

    # --- response compression ---
    compress_min_bytes: int = Field(
        default=1024,
        ge=0,
        le=1_000_000_000,
        description="responses of at least this many bytes are sent gzip-compressed to clients "
        "that accept gzip; 0 compresses every response",
    )
    compress_level: int = Field(
        default=5, ge=1, le=9, description="gzip level, 1 (fastest) to 9 (smallest)"
    )
    compress_enabled: bool = Field(
        default=True, description="gzip responses for clients that send Accept-Encoding: gzip"
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
