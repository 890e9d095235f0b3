"""The one circuit breaker: thresholds, the single probe, the cooldown, abandon, counters, logs."""

from __future__ import annotations

import logging

import pytest

from app.breaker import Breaker
from tests.clock import Clock


def state(breaker: Breaker) -> str:
    """Read the state afresh (mypy would narrow the property across clock moves)."""
    return breaker.state


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_threshold_of_one_opens_on_the_first_failure() -> None:
    breaker = Breaker("cache", cooldown_s=5, clock=Clock(50.0))
    assert state(breaker) == "closed" and breaker.allow()
    breaker.record_failure(ConnectionError("refused"))
    assert state(breaker) == "open" and breaker.is_open and not breaker.allow()
    assert (breaker.failures, breaker.opened) == (1, 1)


def test_a_threshold_counts_failures_in_a_row_and_a_success_resets_it() -> None:
    breaker = Breaker("quotes", failures=3, cooldown_s=5, clock=Clock(50.0))
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert state(breaker) == "closed" and breaker.consecutive_failures == 2
    breaker.record_failure()
    assert state(breaker) == "open" and not breaker.allow()
    assert (breaker.failures, breaker.opened) == (5, 1)


def test_the_cooldown_follows_the_injected_clock_then_one_probe_goes_through() -> None:
    clock = Clock(50.0)
    breaker = Breaker("quotes", failures=2, cooldown_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 9.99
    assert state(breaker) == "open" and not breaker.allow()
    clock.now += 0.01
    assert state(breaker) == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow() and not breaker.allow()  # everyone else waits for its verdict
    breaker.record_success()
    assert state(breaker) == "closed" and not breaker.is_open
    assert breaker.allow() and breaker.allow()


def test_a_failed_probe_reopens_even_below_the_threshold_without_a_new_opening() -> None:
    clock = Clock(50.0)
    breaker = Breaker("quotes", failures=3, cooldown_s=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) == "open" and not breaker.probing
    clock.now += 9
    assert not breaker.allow()  # the cooldown restarted at the failed probe
    clock.now += 1
    assert breaker.allow()
    assert (breaker.failures, breaker.opened) == (4, 1)


def test_an_abandoned_probe_frees_the_slot_and_leaves_the_breaker_half_open() -> None:
    clock = Clock(50.0)
    breaker = Breaker("cache", cooldown_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.abandon()
    assert state(breaker) == "half-open" and not breaker.probing
    assert breaker.allow()
    assert (breaker.failures, breaker.opened) == (1, 1)


def test_a_closed_breaker_counts_a_new_opening_after_it_recovered() -> None:
    clock = Clock(50.0)
    breaker = Breaker("cache", cooldown_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()
    assert (breaker.failures, breaker.opened) == (2, 2)


def test_open_and_close_are_logged_once_each_with_the_given_messages() -> None:
    clock = Clock(50.0)
    log = logging.getLogger("insitechart.test_breaker")
    records = Records()
    log.addHandler(records)
    try:
        breaker = Breaker(
            "redis cache",
            cooldown_s=2.5,
            clock=clock,
            log=log,
            open_message="{name} down ({error}) for {cooldown_s:.1f} s",
            close_message="{name} back",
        )
        breaker.record_failure(ConnectionError("refused\nmore detail"))
        breaker.record_failure(TimeoutError())  # a straggler while open: no second line
        clock.now += 2.5
        assert breaker.allow()
        breaker.record_success()
        breaker.record_success()  # already closed: nothing to say
    finally:
        log.removeHandler(records)
    assert records.messages == [
        "redis cache down (ConnectionError: refused) for 2.5 s",
        "redis cache back",
    ]


def test_without_messages_nothing_is_logged() -> None:
    log = logging.getLogger("insitechart.test_breaker_quiet")
    records = Records()
    log.addHandler(records)
    try:
        breaker = Breaker("quotes", cooldown_s=1, clock=Clock(50.0), log=log)
        breaker.record_failure(TimeoutError())
        breaker.record_success()
    finally:
        log.removeHandler(records)
    assert records.messages == []


def test_a_threshold_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="failures must be at least 1"):
        Breaker("quotes", failures=0, cooldown_s=1)
