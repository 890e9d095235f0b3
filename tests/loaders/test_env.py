"""A request's loader environment comes from the process's resources, never from defaults."""

from __future__ import annotations

from app.config import Settings
from app.resources import Resources
from loaders import LoaderEnv


async def test_the_environment_of_a_request_and_of_a_live_event(settings: Settings) -> None:
    resources = Resources.open(settings)
    try:
        request, event = LoaderEnv.of(resources), LoaderEnv.of(resources, cached=False)
        assert resources.cache is not None
        assert request.cache is resources.cache
        assert event.cache is None  # live events read the database: as fresh as the event
        # Both use the configured quote provider (a default one would bypass QUOTES_PROVIDER).
        assert request.quotes is resources.quotes and event.quotes is resources.quotes
        assert request.db is resources.db and event.db is resources.db
    finally:
        await resources.close()
