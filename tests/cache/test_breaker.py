from __future__ import annotations

from app.breaker import Breaker
from tests.clock import Clock


def test_breaker_skips_calls_during_the_cooldown_then_lets_one_probe_through() -> None:
    clock = Clock(100.0)
    breaker = Breaker("redis", cooldown_s=5, clock=clock)
    assert breaker.allow()
    breaker.record_failure(ConnectionError("refused"))
    assert breaker.is_open and not breaker.allow()
    clock.now += 5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.record_success()
    assert not breaker.is_open and breaker.allow()
    assert (breaker.failures, breaker.opened) == (1, 1)


def test_a_failed_probe_reopens_for_another_cooldown_without_counting_a_new_opening() -> None:
    clock = Clock(100.0)
    breaker = Breaker("redis", cooldown_s=5, clock=clock)
    breaker.record_failure(TimeoutError())
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure(TimeoutError())
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    assert (breaker.failures, breaker.opened) == (2, 1)


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = Clock(100.0)
    breaker = Breaker("redis", cooldown_s=5, clock=clock)
    breaker.record_failure(TimeoutError())
    clock.now += 5
    assert breaker.allow()
    breaker.abandon()
    assert breaker.allow()
