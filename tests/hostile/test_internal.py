"""Anything unexpected is INTERNAL_SERVER_ERROR with an errorId, logged once with its traceback."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.db import Database
from app.main import create_app


async def test_an_unexpected_exception_is_masked_with_an_error_id(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    async def broken(_: Request) -> Response:
        raise RuntimeError("secret internals")

    app.add_route("/broken", broken)
    logger = logging.getLogger("insitechart.errors")
    logger.addHandler(caplog.handler)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/broken")
    finally:
        logger.removeHandler(caplog.handler)
    assert response.status_code == 500
    assert "secret" not in response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
