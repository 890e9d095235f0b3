"""A background step, run at once and then every few seconds, that stops when asked, always.

Stopping sets a flag, then cancels the task. The flag matters: a cancellation can be lost on its
way through a step (Python 3.11's `asyncio.wait_for`, which database drivers use, drops one when
the call it waits for finishes at the same moment; a driver may also turn it into an error of its
own, which the step then logs as a failed pass). With only the cancel, such a loop went on to
sleep for an hour and held the app's shutdown with it. With the flag, the loop ends at its next
check, and `stop()` never waits longer than `grace_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("insitechart.periodic")


class Periodic:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[None]],
        interval_s: float,
        at_start: bool = True,
        grace_s: float = 5.0,
    ) -> None:
        """Run `step` (first at once when `at_start`), then every `interval_s` while it is > 0."""
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self.at_start = at_start
        self.grace_s = grace_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        if self.at_start:
            await self.step()
        while self.interval_s > 0 and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)
            if self._stopping.is_set():
                return
            await self.step()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self.grace_s)
        if not done:
            log.warning("%s did not stop within %.0f s; left behind", self.name, self.grace_s)
            return
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s ended with %r", self.name, task.exception())
