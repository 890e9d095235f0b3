from __future__ import annotations

from pathlib import Path

from app.config import Settings
from schema import build_schema

SDL = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"


def test_published_schema_file_matches_the_schema_served() -> None:
    served = build_schema(Settings()).as_str() + "\n"
    assert SDL.read_text() == served, (
        "docs/schema.graphql is stale: regenerate it with "
        'python -c "from app.config import Settings; from schema import build_schema; '
        'print(build_schema(Settings()).as_str())" > docs/schema.graphql'
    )
