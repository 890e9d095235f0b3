"""The audit's worst documents, eight at once over HTTP: each refused with its code, while
/healthz keeps answering."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.hostile.attacks import (
    duplicated_fields,
    fragment_bomb,
    healthz_meanwhile,
    huge_document,
    many_typenames,
)
from tests.hostile.conftest import Server


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        (fragment_bomb(), 200, "MAX_SELECTIONS_EXCEEDED"),
        (duplicated_fields(), 200, "MAX_SELECTIONS_EXCEEDED"),
        (many_typenames(), 200, "MAX_SELECTIONS_EXCEEDED"),
        (huge_document(40_000), 200, "DOCUMENT_TOO_LARGE"),
        (huge_document(2_000_000), 413, "PAYLOAD_TOO_LARGE"),
        ("{ " + "a " * 3000 + "}", 200, "MAX_TOKENS_EXCEEDED"),
    ],
    ids=["fragments", "duplicates", "typenames", "document", "body", "tokens"],
)
async def test_eight_hostile_requests_at_once_are_refused_and_healthz_answers(
    server: Server, http: httpx.AsyncClient, query: str, status: int, code: str
) -> None:
    async def attack() -> list[httpx.Response]:
        requests = [http.post("/graphql", json={"query": query}) for _ in range(8)]
        return await asyncio.gather(*requests)

    for response in await healthz_meanwhile(server.url, attack()):
        assert response.status_code == status
        body = response.json()
        assert "data" not in body
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
