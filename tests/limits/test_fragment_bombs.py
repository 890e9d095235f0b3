"""Documents whose work grows faster than their size are measured and refused in linear time.

Each check runs in a daemon thread with a generous guard: a regression to exponential expansion
fails the test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from graphql import DocumentNode, GraphQLError, get_introspection_query

from app.config import Settings
from app.main import create_app
from schema import build_schema
from schema.cost import CostAnalysis, select_operation
from schema.limits import StaticLimits, check_selections, parse_document
from schema.scopes import first_missing
from tests.conftest import serve

T = TypeVar("T")
GUARD_S = 10.0
LIMITS = StaticLimits.from_settings(Settings())


def within_guard(work: Callable[[], T]) -> T:
    """`work()` in a daemon thread; fail if it has not returned after GUARD_S."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD_S)
    assert not thread.is_alive(), f"still working after {GUARD_S} s"
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return within_guard(lambda: asyncio.run(factory()))


def fragment_bomb(levels: int = 40, root: str = 'stock(symbol: "AAPL")') -> str:
    """1.9 KB: each fragment spreads the next twice, 2^levels paths to the innermost one."""
    fragments = " ".join(
        f"fragment F{i} on Stock {{ symbol ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ {root} {{ ...F0 }} }} {fragments} fragment F{levels} on Stock {{ symbol }}"


def parsed(query: str) -> DocumentNode:
    return parse_document(query, LIMITS.max_tokens)


def test_fragment_bomb_is_costed_and_scoped_in_linear_time() -> None:
    schema = build_schema(Settings())._schema
    # Spreads multiply: mentions (cost 1 each, 1 x 20 per page) under a fragment spread 2^30 times.
    query = fragment_bomb(30).replace("{ symbol }", "{ symbol mentions { nodes { id } } }")
    document = parsed(query)
    operation = select_operation(document, None)
    assert operation is not None

    def analyse() -> tuple[int, tuple[str, str] | None]:
        analysis = CostAnalysis(schema, document, default_list_size=10)
        return (
            analysis.requested(operation, {}),
            first_missing(analysis, operation, frozenset({"read"})),
        )

    requested, missing = within_guard(analyse)
    assert requested == 1 + 2**30 * (1 + 20)  # stock, then the innermost mentions page 2^30 times
    assert missing is None


def test_fragment_bomb_selections_are_counted_with_multiplicity() -> None:
    document = parsed(fragment_bomb(40))

    def check() -> None:
        check_selections(document, LIMITS.max_selections)

    with pytest.raises(GraphQLError) as refused:
        within_guard(check)
    assert refused.value.extensions == {
        "code": "MAX_SELECTIONS_EXCEEDED",
        "limit": LIMITS.max_selections,
        "value": 1 + 2**41 - 1,  # stock, then F0..F40's symbols: 1 + 2 + ... + 2^40
    }


def test_introspection_query_is_within_the_selection_limit() -> None:
    # GraphiQL sends it on load: exploring must never meet the limit.
    check_selections(parsed(get_introspection_query(descriptions=True)), LIMITS.max_selections)


def refusal(settings: Settings, query: str) -> tuple[int, dict[str, Any]]:
    async def send() -> tuple[int, dict[str, Any]]:
        async with serve(create_app(settings)) as client:
            response = await client.post("/graphql", json={"query": query})
            body: dict[str, Any] = response.json()
            return response.status_code, body

    return run_async(send)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def test_fragment_bomb_over_http_is_refused_before_validation(settings: Settings) -> None:
    status, body = refusal(settings, fragment_bomb(40))
    assert codes(body) == ["MAX_SELECTIONS_EXCEEDED"]
    assert body["errors"][0]["extensions"]["limit"] == settings.limits_max_selections
    assert body.get("data") is None
    assert status == 200  # as every static limit refusal over application/json


def test_fragment_bomb_past_a_raised_selection_limit_meets_the_cost_limit(
    settings: Settings,
) -> None:
    # With the selection limit out of the way, the memoised cost analysis refuses it in its stead.
    raised = settings.model_copy(update={"limits_max_selections": 100_000})
    query = fragment_bomb(12).replace("{ symbol }", "{ symbol mentions { nodes { id } } }")
    _, body = refusal(raised, query)
    assert codes(body) == ["MAX_COST_EXCEEDED"]


@pytest.mark.parametrize(
    "selection",
    ["quote { price }", "__typename"],
    ids=["duplicated-objects", "duplicated-typename"],
)
def test_duplicated_fields_are_refused_before_validation(
    settings: Settings, selection: str
) -> None:
    query = "{ stocks(first: 1) { nodes { " + " ".join([selection] * 490) + " } } }"
    _, body = refusal(settings, query)
    assert codes(body) == ["MAX_SELECTIONS_EXCEEDED"]
    assert body["errors"][0]["extensions"]["value"] > settings.limits_max_selections
