"""Development keeps its conveniences (GraphiQL under a CSP, open /metrics, /openapi.json)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from app.http.security_headers import INLINE_SCRIPT


async def test_the_graphiql_page_has_a_csp_allowing_only_its_own_scripts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp  # the vendored assets (app/static/graphiql), no CDN
    # The page has no inline script today; one added later is allowed by its hash alone.
    for script in INLINE_SCRIPT.findall(response.content):
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src is not None
    assert "'unsafe-inline'" not in script_src.group(1)
    assert response.headers["x-frame-options"] == "DENY"


async def test_development_serves_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
