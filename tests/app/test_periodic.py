"""Periodic: a background step that stops when asked, even when a step loses the cancellation."""

from __future__ import annotations

import asyncio

from app.periodic import Periodic


async def test_runs_at_start_then_every_interval_until_stopped() -> None:
    runs: list[float] = []

    async def step() -> None:
        runs.append(asyncio.get_running_loop().time())

    periodic = Periodic("test-periodic", step, interval_s=0.05)
    periodic.start()
    await asyncio.sleep(0.22)
    await periodic.stop()
    count = len(runs)
    await asyncio.sleep(0.1)
    assert 3 <= count <= 6
    assert len(runs) == count  # nothing ran after stop()
    assert not periodic.running


async def test_a_step_that_swallows_the_cancellation_still_ends_the_loop() -> None:
    """What a database driver may do: turn a cancellation into an error the step logs."""
    entered, passes = asyncio.Event(), [0]

    async def swallowing_step() -> None:
        passes[0] += 1
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # lost, as Python 3.11's wait_for can lose it

    periodic = Periodic("test-swallow", swallowing_step, interval_s=3600)
    periodic.start()
    await entered.wait()
    await asyncio.wait_for(periodic.stop(), timeout=5)
    assert not periodic.running
    assert passes[0] == 1


async def test_stop_gives_up_after_its_grace_on_a_step_that_never_returns() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def stubborn_step() -> None:
        entered.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    periodic = Periodic("test-stubborn", stubborn_step, interval_s=1, grace_s=0.2)
    periodic.start()
    await entered.wait()
    await asyncio.wait_for(periodic.stop(), timeout=5)  # returns after its grace
    release.set()
    await asyncio.sleep(0.05)
