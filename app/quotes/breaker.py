"""A circuit breaker: stop calling an upstream that keeps failing, probe it after a cooldown."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Closed until `failures` calls in a row fail; open for `cooldown_s`; then one probe.

    In the half-open state a single call goes through: its success closes the breaker, its
    failure opens it for another cooldown. Everything else is refused while it is in flight.
    """

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> State:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at < self.cooldown_s:
            return "open"
        return "half-open"

    def allow(self) -> bool:
        """Whether a call may go upstream now; a True in the half-open state claims the probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self.probing:
            return False
        self.probing = True
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self.probing or self.consecutive_failures >= self.threshold:
            self.opened_at = self.clock()
        self.probing = False

    def abandon(self) -> None:
        """Forget a call that ended without an outcome (cancelled), freeing the probe slot."""
        self.probing = False
