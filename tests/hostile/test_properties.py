"""Property: whatever strings and numbers a client puts in any argument of the schema's query
fields (and of Stock's fields), the answer is never INTERNAL_SERVER_ERROR.

Every argument is fed through variables, so values the document syntax could not carry (NUL,
lone surrogates, huge numbers, wrong types) reach the server; cursors are also forged from
arbitrary JSON, so the cursor decoders see every shape.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLType,
    get_named_type,
    parse,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from schema import build_schema
from tests.hostile.conftest import Server

SCHEMA = build_schema(Settings())._schema
EXAMPLES = 30  # per argument: a few seconds for all of them
NASTY = ["\x00", "a\x00b", "\u00b2", "\u0661\u0662\u0663", "\ud800", "9" * 19, "-1", "0", "%", "_"]
EDGE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"]
EDGE_IDS = [2**63, 2**64, True, -1, 0, 1.5]


@dataclass(frozen=True)
class Target:
    """One field to attack: where it sits (the root, or under `stock`) and its arguments."""

    name: str
    field: GraphQLField
    under_stock: bool


def targets() -> list[Target]:
    query = SCHEMA.query_type
    stock = SCHEMA.get_type("Stock")
    assert query is not None and isinstance(stock, GraphQLObjectType)
    found = [Target(n, f, False) for n, f in query.fields.items() if f.args]
    found += [Target(n, f, True) for n, f in stock.fields.items() if f.args]
    return found


TARGETS = targets()
anything = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | anything,
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=6,
)
cursors = st.builds(
    lambda items: base64.urlsafe_b64encode(json.dumps(items).encode()).decode().rstrip("="),
    st.one_of(
        st.tuples(
            st.just(1),
            st.just("m"),
            st.sampled_from(EDGE_TIMES) | json_values,
            st.sampled_from(EDGE_IDS) | json_values,
        ),
        st.tuples(st.just(1), st.sampled_from(["m", "s"]), json_values, json_values),
        st.tuples(st.just(1), st.just("s"), json_values),
        st.lists(json_values, max_size=4),
    ),
)
numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(
    allow_nan=False, allow_infinity=False
)
strings = (
    st.sampled_from(NASTY)
    | anything
    | cursors
    | st.from_regex(r"[0-9\u0660-\u0669\u00b2]{1,25}", fullmatch=True)
)


def values_for(kind: GraphQLType) -> st.SearchStrategy[Any]:
    """Mostly values of the argument's type, sometimes anything at all."""
    inner = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if isinstance(inner, GraphQLList):
        typed: st.SearchStrategy[Any] = st.lists(values_for(inner.of_type), max_size=4)
    elif isinstance(inner, GraphQLEnumType):
        typed = st.sampled_from(list(inner.values)) | anything
    elif get_named_type(inner).name == "Int":
        # Mostly in range, so the other arguments get past this one's check to the database.
        typed = st.integers(min_value=-2, max_value=120) | st.integers(1, 20) | numbers
    else:
        typed = strings
    return st.one_of(typed, typed, typed, st.none(), st.none(), numbers, anything, st.booleans())


def document(target: Target) -> str:
    args = target.field.args
    declared = ", ".join(f"${name}: {arg.type}" for name, arg in args.items())
    passed = ", ".join(f"{name}: ${name}" for name in args)
    composite = isinstance(get_named_type(target.field.type), GraphQLObjectType)
    selection = f"{target.name}({passed})" + (" { __typename }" if composite else "")
    if target.under_stock:
        return f'query({declared}) {{ stock(symbol: "AAPL") {{ {selection} }} }}'
    return f"query({declared}) {{ {selection} }}"


def benign(kind: GraphQLType) -> Any:
    """A valid value, so the attacked argument is the one that decides."""
    if not isinstance(kind, GraphQLNonNull):
        return None
    inner = kind.of_type
    if isinstance(inner, GraphQLList):
        return [benign(inner.of_type) or "AAPL"]
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    named = get_named_type(inner)
    return {"Int": 5, "ID": "1"}.get(named.name if named is not None else "", "AAPL")


@st.composite
def requests(draw: st.DrawFn, target: Target, attacked: str) -> tuple[str, dict[str, Any]]:
    args = target.field.args
    variables = {name: benign(arg.type) for name, arg in args.items()}
    variables[attacked] = draw(values_for(args[attacked].type))
    return document(target), variables


ATTACKS = [(t, name) for t in TARGETS for name in t.field.args]


def test_the_documents_are_valid_so_the_values_reach_the_resolvers() -> None:
    for target in TARGETS:
        assert not validate(SCHEMA, parse(document(target))), document(target)


def test_the_targets_cover_every_argument_of_the_query_fields() -> None:
    names = {(t.name, a) for t in TARGETS for a in t.field.args}
    assert {
        ("stock", "symbol"),
        ("stocks", "after"),
        ("stocks", "search"),
        ("mention", "id"),
    } <= names
    assert {
        ("mentions", "after"),
        ("sentimentHistory", "last"),
        ("stocksBySymbols", "symbols"),
    } <= names


@pytest.mark.parametrize(
    ("target", "attacked"), ATTACKS, ids=[f"{t.name}.{name}" for t, name in ATTACKS]
)
def test_no_argument_value_makes_an_internal_error(
    server: Server, target: Target, attacked: str
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(requests(target, attacked))
        def property_holds(request: tuple[str, dict[str, Any]]) -> None:
            query, variables = request
            # json, not httpx's encoder: lone surrogates go out as their escapes.
            body = json.dumps({"query": query, "variables": variables})
            response = client.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code < 500, response.text
            codes = [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]
            assert "INTERNAL_SERVER_ERROR" not in codes, (query, variables, response.text)
            assert None not in codes, response.text

        property_holds()
