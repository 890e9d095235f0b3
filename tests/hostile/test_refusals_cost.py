"""A refused or failed request is charged at least one point: repeating it meets the budget."""

from __future__ import annotations

import uuid

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from schema.budget import refusal_cost
from tests.conftest import serve
from tests.hostile.attacks import duplicated_fields, fragment_bomb

# Room for one refusal of any of them (490 fields cost 16 points: one per 100 tokens), and for one
# operation of cost 11 (`first: 0` is costed as the default list size).
TIGHT = {"budget_anonymous_capacity": 40, "budget_anonymous_restore_per_s": 0.01}


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
        for _ in range(41):
            response = await client.post("/graphql", json={"query": query})
            seen.append((response.status_code, response.json()["errors"][0]["extensions"]["code"]))
    assert seen[0][1] == code
    assert seen[-1] == (429, "THROTTLED")
    assert {c for _, c in seen} == {code, "THROTTLED"}


async def test_a_refused_document_is_charged_its_parse(db: Database, settings: Settings) -> None:
    """Varied documents (a cache sees each once) cost one point per 100 tokens more; a
    remembered refusal is answered for one point (uuid: none of these was refused before)."""
    cost = refusal_cost(duplicated_fields())
    assert cost > 10
    update = {"budget_anonymous_capacity": 3 * cost, "budget_anonymous_restore_per_s": 0.01}
    async with serve(create_app(settings.model_copy(update=update))) as client:
        seen = []
        for n in range(4):
            query = f"{duplicated_fields()} # {uuid.uuid4()} {n}"
            response = await client.post("/graphql", json={"query": query})
            seen.append((response.status_code, response.json()["errors"][0]["extensions"]["code"]))
    assert seen == [(200, "MAX_SELECTIONS_EXCEEDED")] * 3 + [(429, "THROTTLED")]
