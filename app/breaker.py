"""A circuit breaker: stop calling a dependency that keeps failing, probe it after a cooldown."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class Breaker:
    """Closed until `failures` calls in a row fail; open for `cooldown_s`; then one probe.

    In the half-open state a single call goes through: its success closes the breaker, its
    failure opens it for another cooldown. Everything else is refused while it is in flight.
    `open_message` and `close_message`, when given, are logged once per opening and closing
    (formatted with `name`, `error`, `error_type` and `cooldown_s`), so an outage is one line,
    not one per call.
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int = 1,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
        open_message: str | None = None,
        close_message: str | None = None,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        self.name = name
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.log = log or logging.getLogger("insitechart.breaker")
        self.open_message = open_message
        self.close_message = close_message
        self.consecutive_failures = 0
        self.failures = 0  # every failure recorded, for tests and operators
        self.opened = 0  # times the breaker went from closed to open
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> State:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at < self.cooldown_s:
            return "open"
        return "half-open"

    @property
    def is_open(self) -> bool:
        """Open or half-open: calls are being refused, or only a probe goes through."""
        return self.opened_at is not None

    def allow(self) -> bool:
        """Whether a call may go through now; a True in the half-open state claims the probe."""
        if self.opened_at is None:
            return True
        if self.probing or self.clock() - self.opened_at < self.cooldown_s:
            return False
        self.probing = True
        return True

    def record_success(self) -> None:
        if self.opened_at is not None and self.close_message:
            self.log.warning(self.close_message.format(name=self.name, cooldown_s=self.cooldown_s))
        self.consecutive_failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self, exc: BaseException | None = None) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        if self.probing or self.consecutive_failures >= self.threshold:
            if self.opened_at is None:
                self.opened += 1
                self.announce_open(exc)
            self.opened_at = self.clock()
        self.probing = False

    def abandon(self) -> None:
        """Forget a call that ended without an outcome (cancelled), freeing the probe slot."""
        self.probing = False

    def announce_open(self, exc: BaseException | None) -> None:
        if not self.open_message:
            return
        error = error_type = ""
        if exc is not None:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            error_type = type(exc).__name__
            error = f"{error_type}: {detail}"
        self.log.warning(
            self.open_message.format(
                name=self.name, error=error, error_type=error_type, cooldown_s=self.cooldown_s
            )
        )
