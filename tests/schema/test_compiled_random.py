"""Random documents give the compiled executor's results exactly as graphql-core gives them, but
for which of two errors racing to null one position is reported (`raced`, in differential.py).

Statements are not compared here: with two independent loader chains (a root `stocks` page and a
root `stock`), whether their next loads share a batch depends on which SQL statement ends first,
on both executors alike. The reference operations compare them (test_compiled_reference.py), and
tests/schema/test_statement_counts.py holds every operation to one statement per loader level.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.config import Settings
from app.db import Database
from app.timeutil import utcnow
from tests.factories.universe import make_universe
from tests.schema.differential import Outcome, agrees, bare_schemas, compare, raced
from tests.schema.documents import random_document

DOCUMENTS = 300
CHUNKS = 4


def cancelled(compiled: Outcome, references: list[Outcome]) -> bool:
    """A run let CancelledError out: a non-null error cancelled a sibling's task while it awaited
    a loader future that another field awaits too (aiodataloader hands both the same future, and
    cancelling the task cancels it). graphql-core's executor does it as well; whether it happens
    depends on where each task is when the error comes, so such a document is not compared."""
    return any("raised" in outcome.formatted for outcome in (compiled, *references))


# A non-null error cancels its siblings' tasks (gather_with_cancel); one cancelled before it ran
# drops its resolver's coroutine unawaited, on graphql-core's executor as on the compiled one.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("chunk", range(CHUNKS))
async def test_random_documents_give_graphql_cores_data_and_errors(
    db: Database, settings: Settings, chunk: int
) -> None:
    await make_universe(db, 4, 3)
    now = utcnow()
    schemas = bare_schemas()
    rng = random.Random(18_000 + chunk)
    seen: Counter[str] = Counter()
    for _ in range(DOCUMENTS // CHUNKS):
        query, variables = random_document(rng, schemas[0]._schema)
        # The same document again with every @skip/@include variable flipped: plans are cached
        # per document and per the values those variables take.
        flipped = {k: not v if isinstance(v, bool) else v for k, v in variables.items()}
        for values in (variables, flipped) if flipped != variables else (variables,):
            compiled, references = await compare(schemas, settings, db, now, query, values)
            if cancelled(compiled, references):
                seen["cancelled"] += 1
                continue
            if raced(compiled, references):
                seen["raced"] += 1
                continue
            assert agrees(compiled, references), (query, values, compiled, references)
        errors = compiled.formatted.get("errors", [])
        seen["errors"] += bool(errors)
        seen["null data"] += compiled.formatted.get("data", 0) is None
        seen["bad input"] += any(
            (e.get("extensions") or {}).get("code") == "BAD_USER_INPUT" for e in errors
        )
        seen["list item error"] += any(isinstance(p, int) for e in errors for p in e["path"])
    # A known fault of the loaders, on both executors, decides a few documents by timing alone.
    assert seen["cancelled"] <= DOCUMENTS // CHUNKS // 5, seen  # of ~150 runs a chunk
    # Races between two errors for one nulled position are rare (1 document of 300 today): a
    # systematic difference would be many.
    assert seen["raced"] <= 2, seen
    # The documents reach what they are meant to: errors inside lists, propagated nulls.
    assert seen["errors"] > 10, seen
    assert seen["null data"] > 0, seen
    assert seen["bad input"] > 5, seen
    assert seen["list item error"] > 0, seen


def test_a_race_is_another_error_at_the_same_nulled_position_only() -> None:
    first = {"message": "first", "path": ["a", "nodes", 0, "x"]}
    second = {"message": "second", "path": ["a", "edges", 0, "y"]}
    own = {"message": "own", "path": ["b"]}
    reference = Outcome({"data": {"a": None, "b": None}, "errors": [second, own]}, 1)
    assert raced(Outcome({"data": {"a": None, "b": None}, "errors": [first, own]}, 1), [reference])
    # Not a race: the same answer, other data, a position nulled in another order, another count.
    nulled = {"a": None, "b": None}
    assert not raced(reference, [reference])
    assert not raced(Outcome({"data": {"a": None, "b": 1}, "errors": [first, own]}, 1), [reference])
    assert not raced(Outcome({"data": nulled, "errors": [own, first]}, 1), [reference])
    assert not raced(Outcome({"data": nulled, "errors": [first]}, 1), [reference])
