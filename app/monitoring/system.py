"""Process and machine resources from psutil, and the event loop's lag."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    cpu_percent: float  # this process, percent of one core
    rss_bytes: int
    open_fds: int
    threads: int
    system_cpu_percent: float
    system_memory_percent: float
    loop_lag_s: float
    loop_lag_max_s: float  # the longest since the sampler started


class SystemSampler:
    """Reads psutil on demand; CPU percentages are over the time since the previous read."""

    def __init__(self) -> None:
        self.process = psutil.Process(os.getpid())
        self.loop_lag_s = 0.0
        self.loop_lag_max_s = 0.0
        # The first cpu_percent(None) call only sets the reference point.
        self.process.cpu_percent(None)
        psutil.cpu_percent(None)

    def rss_bytes(self) -> int:
        return int(self.process.memory_info().rss)

    def cpu_seconds(self) -> float:
        """CPU time (user and system) this process used since it started."""
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> SystemSnapshot:
        with self.process.oneshot():
            cpu = self.process.cpu_percent(None)
            rss = self.process.memory_info().rss
            fds = self.process.num_fds() if hasattr(self.process, "num_fds") else 0
            threads = self.process.num_threads()
        return SystemSnapshot(
            cpu_percent=cpu,
            rss_bytes=rss,
            open_fds=fds,
            threads=threads,
            system_cpu_percent=psutil.cpu_percent(None),
            system_memory_percent=psutil.virtual_memory().percent,
            loop_lag_s=self.loop_lag_s,
            loop_lag_max_s=self.loop_lag_max_s,
        )

    async def measure_loop_lag(
        self, interval_s: float, observe: Callable[[float], None] | None = None
    ) -> None:
        """Sleep `interval_s` forever; how much later than asked the loop wakes us is the lag."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(interval_s)
            self.loop_lag_s = max(time.perf_counter() - start - interval_s, 0.0)
            self.loop_lag_max_s = max(self.loop_lag_max_s, self.loop_lag_s)
            if observe is not None:
                observe(self.loop_lag_s)
