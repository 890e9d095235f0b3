"""The compiled plan's promises keep gather_with_cancel's rules: the first error fails a gather and
cancels the rest, a cancelled request cancels the tasks it still runs, a shared loader future is
never cancelled, and callbacks run in the order they were added, in the call that settles."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schema.compiled.promise import CANCELLED, DONE, Gather, Promise, as_promise, settled_by


async def forever(started: list[str], name: str) -> None:
    started.append(name)
    await asyncio.Event().wait()


async def test_a_gather_settles_in_the_call_that_settles_its_last_child() -> None:
    first, second = Promise(), Promise()
    results: dict[str, Any] = {"a": first, "b": second, "c": 3}
    gather = Gather(results, ["a", "b"], [first, second])
    seen: list[str] = []
    gather.then(lambda p: seen.append(f"gather {p.value}"))
    first.resolve(1)
    assert gather.state != DONE and seen == []
    second.resolve(2)
    assert seen == ["gather {'a': 1, 'b': 2, 'c': 3}"]  # no turn of the event loop needed


async def test_the_first_error_fails_the_gather_and_cancels_the_other_tasks() -> None:
    started: list[str] = []
    task = asyncio.ensure_future(forever(started, "sibling"))
    sibling = settled_by(task, owned=True)
    failing = Promise()
    gather = Gather([None, None], [0, 1], [sibling, failing])
    await asyncio.sleep(0)
    assert started == ["sibling"]
    error = ValueError("boom")
    failing.reject(error)
    assert gather.value is error and sibling.state == CANCELLED
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ValueError, match="boom"):
        await gather


async def test_cancelling_the_awaiting_task_cancels_owned_tasks_but_not_a_shared_future() -> None:
    started: list[str] = []
    owned = asyncio.ensure_future(forever(started, "resolver"))
    shared = asyncio.get_running_loop().create_future()  # a loader's, which other fields share
    gather = Gather([None, None], [0, 1], [as_promise(owned), settled_by(shared, owned=False)])
    request = asyncio.ensure_future(wait(gather))
    await asyncio.sleep(0)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert gather.state == CANCELLED
    with pytest.raises(asyncio.CancelledError):
        await owned
    assert not shared.cancelled() and not shared.done()
    shared.set_result("row")  # later, for the other fields: nothing of the cancelled gather runs


async def wait(promise: Promise) -> Any:
    return await promise


async def test_an_awaited_promise_gives_its_value_or_raises_its_error() -> None:
    done = Promise()
    done.resolve(5)
    assert await done == 5
    pending = Promise()
    asyncio.get_running_loop().call_soon(pending.reject, KeyError("k"))
    with pytest.raises(KeyError):
        await pending
