"""Scopes declared beside fields are checked before execution: FORBIDDEN, and nothing runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry

from app.apikeys import KeyRecord
from app.config import Settings
from app.ratelimit import MemoryBuckets
from app.timeutil import utcnow
from schema.auth import Principal
from schema.budget import CostBudget

calls: list[str] = []


@strawberry.type
class AdminQuery:
    @strawberry.field
    def public(self) -> int:
        calls.append("public")
        return 1

    @strawberry.field(metadata={"scope": "admin"})  # type: ignore[untyped-decorator]
    def audit(self) -> int:
        calls.append("audit")
        return 2


@strawberry.type
class WriteMutation:
    @strawberry.mutation(metadata={"cost": 10})  # type: ignore[untyped-decorator]
    def ingest(self, names: list[str]) -> int:
        calls.append("ingest")
        return len(names)


@dataclass
class Resources:
    buckets: MemoryBuckets = field(default_factory=MemoryBuckets)


@dataclass
class Context:
    principal: Principal
    resources: Resources = field(default_factory=Resources)
    response: Any = None


def keyed(*scopes: str) -> Principal:
    key = KeyRecord(1, "k", "ic_abcdefg", frozenset(scopes), "partner", utcnow(), None)
    return Principal.for_key(key)


def schema() -> strawberry.Schema:
    extensions: list[Any] = [lambda: CostBudget(Settings())]
    return strawberry.Schema(query=AdminQuery, mutation=WriteMutation, extensions=extensions)


async def test_an_admin_field_needs_the_admin_scope() -> None:
    calls.clear()
    result = await schema().execute(
        "{ public audit }", context_value=Context(Principal.anonymous("10.0.0.1"))
    )
    assert result.data is None
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "FORBIDDEN", "field": "audit", "scope": "admin"}
    assert calls == []  # not even the field that needed nothing
    allowed = await schema().execute("{ public audit }", context_value=Context(keyed("admin")))
    assert allowed.errors is None
    assert allowed.data == {"public": 1, "audit": 2}


async def test_a_mutation_needs_the_ingest_scope_unless_it_declares_another() -> None:
    calls.clear()
    query = 'mutation { ingest(names: ["a", "b"]) }'
    refused = await schema().execute(query, context_value=Context(keyed("read")))
    assert refused.errors is not None
    assert refused.errors[0].extensions == {
        "code": "FORBIDDEN",
        "field": "ingest",
        "scope": "ingest",
    }
    assert calls == []
    done = await schema().execute(query, context_value=Context(keyed("read", "ingest")))
    assert done.data == {"ingest": 2}
    assert done.extensions is not None
    assert done.extensions["cost"]["requestedQueryCost"] == 10
