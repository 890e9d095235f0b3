"""A circuit breaker: after a failure, skip the remote store for a cool-down, not a timeout each."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("insitechart.cache")


class Breaker:
    """Closed: calls go through. Open: calls are skipped until the cool-down ends, then one probe
    decides. The trouble is logged once when the circuit opens and once when it closes again.
    """

    def __init__(
        self, name: str, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0
        self.opened = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        if self._open_until is None:
            return True
        if self._probing or self.clock() < self._open_until:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        if self._open_until is not None:
            log.warning("%s is back; caching resumes", self.name)
        self._open_until = None
        self._probing = False

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled): let the next call probe instead."""
        self._probing = False

    def failure(self, exc: BaseException) -> None:
        self.failures += 1
        if self._open_until is None:
            self.opened += 1
            log.warning(
                "%s unavailable (%s: %s); serving from the database for %.1f s",
                self.name,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                self.cooldown_s,
            )
        self._open_until = self.clock() + self.cooldown_s
        self._probing = False
