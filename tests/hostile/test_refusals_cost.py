"""A refused or failed request is charged at least one point: repeating it meets the budget."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.hostile.attacks import duplicated_fields, fragment_bomb

# Room for one operation of cost 11 (`first: 0` is costed as the default list size).
TIGHT = {"budget_anonymous_capacity": 12, "budget_anonymous_restore_per_s": 0.01}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (fragment_bomb(), "MAX_SELECTIONS_EXCEEDED"),
        (duplicated_fields(), "MAX_SELECTIONS_EXCEEDED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("{", "GRAPHQL_PARSE_FAILED"),
        ('{ mention(id: "x") { id } }', "BAD_USER_INPUT"),
        ("{ stocks(first: 0) { nodes { symbol } } }", "BAD_USER_INPUT"),
        ("{ serverStats { windowSeconds } }", "FORBIDDEN"),
    ],
    ids=["fragments", "duplicates", "validation", "parse", "argument", "range", "scope"],
)
async def test_repeating_a_refused_request_meets_the_budget(
    db: Database, settings: Settings, query: str, code: str
) -> None:
    async with serve(create_app(settings.model_copy(update=TIGHT))) as client:
        seen = []
        for _ in range(13):
            response = await client.post("/graphql", json={"query": query})
            seen.append((response.status_code, response.json()["errors"][0]["extensions"]["code"]))
    assert seen[0][1] == code
    assert seen[-1] == (429, "THROTTLED")
    assert {c for _, c in seen} == {code, "THROTTLED"}
