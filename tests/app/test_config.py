from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings

VARIABLES = (
    "DATABASE_URL", "REDIS_URL", "APP_ENV", "HOST", "PORT", "WORKERS", "LOG_LEVEL",
    "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DB_POOL_TIMEOUT_S", "STATEMENT_TIMEOUT_MS", "GRAPHIQL",
)  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting in the environment (the developer's shell may export some)."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_work_on_the_embedded_backends(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings(_env_file=None)

    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/insitechart/insitechart.db"
    assert settings.redis_url is None
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert (settings.log_level, settings.app_env) == ("info", "development")
    assert (settings.db_pool_size, settings.db_max_overflow) == (40, 0)
    assert (settings.db_pool_timeout_s, settings.statement_timeout_ms) == (5.0, 5000)
    assert settings.graphiql_enabled


def test_default_database_is_per_user_not_per_directory(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.delenv("XDG_DATA_HOME", raising=False)
    clean_env.setenv("HOME", str(tmp_path))
    clean_env.chdir(tmp_path)
    expected = f"sqlite+aiosqlite:///{tmp_path}/.local/share/insitechart/insitechart.db"

    assert Settings(_env_file=None).database_url == expected
    clean_env.chdir("/")
    assert Settings(_env_file=None).database_url == expected
    clean_env.setenv("DATABASE_URL", "")  # empty, as REDIS_URL: the default
    assert Settings(_env_file=None).database_url == expected


def test_environment_overrides_defaults_case_insensitively(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("DATABASE_URL", "postgresql+asyncpg://app:secret@db:5432/insitechart")
    clean_env.setenv("redis_url", "redis://cache:6379/2")
    clean_env.setenv("PORT", "9000")
    clean_env.setenv("APP_ENV", "production")
    clean_env.setenv("STATEMENT_TIMEOUT_MS", "0")

    settings = Settings(_env_file=None)

    assert settings.database_url_safe == "postgresql+asyncpg://app:***@db:5432/insitechart"
    assert (settings.redis_url, settings.port, settings.statement_timeout_ms) == (
        "redis://cache:6379/2",
        9000,
        0,
    )
    assert settings.is_production and not settings.graphiql_enabled
    # Values passed in win over the environment: tests and create_app(settings) rely on it.
    assert Settings(_env_file=None, port=8123).port == 8123


def test_env_file_is_read_when_present(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=debug\nWORKERS=3\n")

    settings = Settings(_env_file=env_file)

    assert (settings.log_level, settings.workers) == ("debug", 3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_url", "not a url", "DATABASE_URL is not a database URL"),
        ("database_url", "mysql://db/x", "DATABASE_URL driver 'mysql' is not supported"),
        ("database_url", "postgresql://db/x", "use postgresql+asyncpg://, sqlite+aiosqlite://"),
        ("redis_url", "http://cache", "REDIS_URL must start with redis://"),
        ("port", 0, "greater than or equal to 1"),
        ("workers", 100, "less than or equal to 64"),
        ("log_level", "loud", "'debug', 'info', 'warning' or 'error'"),
    ],
)
def test_bad_value_is_refused_naming_the_setting(
    clean_env: pytest.MonkeyPatch, field: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **{field: value})

    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("br,gzip", ["br", "gzip"]), ("gzip", ["gzip"]), (" GZIP , br ", ["gzip", "br"])],
)
def test_compress_encodings_is_a_comma_separated_list_in_order_of_preference(
    clean_env: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    clean_env.setenv("COMPRESS_ENCODINGS", value)
    assert Settings(_env_file=None).compress_encodings == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("zstd", "'br' or 'gzip'"), ("", "at least 1 item"), ("gzip,gzip", "each coding once")],
)
def test_compress_encodings_refuses_unknown_missing_or_repeated_codings(
    clean_env: pytest.MonkeyPatch, value: str, message: str
) -> None:
    clean_env.setenv("COMPRESS_ENCODINGS", value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    assert message in str(caught.value)
    assert {e["loc"][0] for e in caught.value.errors()} == {"compress_encodings"}
