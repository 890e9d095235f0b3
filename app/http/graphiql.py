"""GraphiQL served from the app's own copies of its assets: no CDN, so it works offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql"


@lru_cache(maxsize=1)
def graphiql_page() -> str:
    """The page `GET /graphql` answers a browser with (it loads only /graphiql/... assets)."""
    return (STATIC / "index.html").read_text(encoding="utf-8")


def mount_graphiql_assets(app: FastAPI) -> None:
    """Serve the page's scripts and styles (vendored, versions in vendor/README.md)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC), name="graphiql")
