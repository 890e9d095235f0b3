"""Quote settings are validated with messages that name the knob."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"quotes_provider": "finnhub"}, "QUOTES_TOKEN is required"),
        ({"quotes_provider": "bloomberg"}, "quotes_provider"),
        ({"quotes_base_url": "ftp://example.com"}, "QUOTES_BASE_URL must start with http"),
        ({"quotes_backoff_base_ms": 500, "quotes_backoff_max_ms": 100}, "QUOTES_BACKOFF_BASE_MS"),
        ({"quotes_concurrency": 0}, "quotes_concurrency"),
        ({"quotes_timeout_ms": 1}, "quotes_timeout_ms"),
        ({"quotes_retries": -1}, "quotes_retries"),
    ],
)
def test_bad_quote_settings_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_quote_defaults_work_offline() -> None:
    settings = Settings()
    assert settings.quotes_provider == "simulated"
    assert (settings.quotes_concurrency, settings.quotes_timeout_ms) == (10, 2000)
    assert settings.quotes_cache_ttl_s == 60


def test_base_url_loses_its_trailing_slash() -> None:
    settings = Settings(quotes_provider="finnhub", quotes_token="t", quotes_base_url="http://h/")
    assert settings.quotes_base_url == "http://h"
