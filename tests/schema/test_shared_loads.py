"""A load two fields share survives one of them being cancelled by a sibling's error."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.universe import make_universe

# `a` fails (mentions(first: 0) is refused and its connection is non-null, so `a` is null), which
# cancels its siblings, among them S000's sentiment load; `b` awaits that same load.
SHARED = """{
  a: stock(symbol: "S000") { sentiment { label } m: mentions(first: 0) { nodes { id } } }
  b: stocks(first: 2) { nodes { symbol sentiment { label } } }
}"""


@pytest.mark.parametrize("compiled", [True, False])
async def test_an_error_that_cancels_siblings_leaves_the_other_fields_loads_alone(
    db: Database, settings: Settings, compiled: bool
) -> None:
    await make_universe(db, 2, 2)
    app = create_app(settings.model_copy(update={"executor_compiled": compiled}))
    async with serve(app) as client:
        response = await client.post("/graphql", json={"query": SHARED})
        again = await client.post(
            "/graphql", json={"query": "{ stocks(first: 1) { nodes { symbol } } }"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["a"] is None
    assert [n["symbol"] for n in body["data"]["b"]["nodes"]] == ["S000", "S001"]
    assert all(
        n["sentiment"]["label"] in {"POSITIVE", "NEUTRAL", "NEGATIVE"}
        for n in body["data"]["b"]["nodes"]
    )
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert again.status_code == 200 and "errors" not in again.json()
