"""Alert rules over the request window and the machine, delivered to a Slack-compatible webhook.

One incident is one message: a rule that starts breaching sends "firing" once, and "recovered"
when it clears. A rule that fires again within the cooldown of its last message stays silent.
Delivery failures are logged; they never reach a request, which never waits for an alert.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.monitoring.stats import Clock

log = logging.getLogger("insitechart.alerts")


@dataclass(frozen=True, slots=True)
class Reading:
    """The figures the rules look at, taken together."""

    requests: int
    p95_s: float
    p99_s: float
    error_rate: float
    memory_percent: float
    cpu_percent: float


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    title: str
    threshold: float
    unit: str
    value: Callable[[Reading], float]
    needs_traffic: bool  # judged only with at least `alert_min_requests` in the window

    def render(self, value: float) -> str:
        if self.unit == "%":
            return f"{value:.1f}%"
        if self.unit == "ratio":
            return f"{value * 100:.1f}%"
        return f"{value:.2f} {self.unit}"


def rules(settings: Settings) -> list[Rule]:
    return [
        Rule("p95_latency", "p95 latency", settings.alert_p95_s, "s", lambda r: r.p95_s, True),
        Rule("p99_latency", "p99 latency", settings.alert_p99_s, "s", lambda r: r.p99_s, True),
        Rule(
            "error_rate",
            "error rate",
            settings.alert_error_rate,
            "ratio",
            lambda r: r.error_rate,
            True,
        ),
        Rule(
            "memory",
            "memory use",
            settings.alert_memory_percent,
            "%",
            lambda r: r.memory_percent,
            False,
        ),
        Rule("cpu", "CPU use", settings.alert_cpu_percent, "%", lambda r: r.cpu_percent, False),
    ]


@dataclass(slots=True)
class RuleState:
    firing: bool = False
    notified: bool = False  # this incident's "firing" message was sent
    last_sent: float | None = None


class Alerts:
    """Evaluates the rules and posts transitions to the webhook."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        if settings.alert_webhook_url is None:
            raise ValueError("alerts need ALERT_WEBHOOK_URL")
        self.url = settings.alert_webhook_url
        self.settings = settings
        self.clock = clock
        self.rules = rules(settings)
        self.states = {rule.name: RuleState() for rule in self.rules}
        self.host = socket.gethostname()

    async def evaluate(self, reading: Reading) -> list[dict[str, Any]]:
        """Judge every rule once; return the messages this evaluation delivered or tried to."""
        messages = []
        for rule in self.rules:
            message = self._judge(rule, reading)
            if message is not None:
                messages.append(message)
        if messages:
            async with httpx.AsyncClient(timeout=self.settings.alert_timeout_s) as client:
                for message in messages:
                    await self._deliver(client, message)
        return messages

    def _judge(self, rule: Rule, reading: Reading) -> dict[str, Any] | None:
        state = self.states[rule.name]
        value = rule.value(reading)
        judged = not rule.needs_traffic or reading.requests >= self.settings.alert_min_requests
        breached = judged and value > rule.threshold
        now = self.clock()
        if breached and not state.firing:
            state.firing = True
            cooling = state.last_sent is not None and now - state.last_sent < self._cooldown
            if cooling:
                log.info("alert %s fires again within its cooldown: not sent", rule.name)
                return None
            state.notified, state.last_sent = True, now
            return self._message(rule, value, "firing")
        if not breached and state.firing:
            state.firing = False
            if not state.notified:
                return None
            state.notified, state.last_sent = False, now
            return self._message(rule, value, "resolved")
        return None

    @property
    def _cooldown(self) -> float:
        return self.settings.alert_cooldown_s

    def _message(self, rule: Rule, value: float, status: str) -> dict[str, Any]:
        shown, limit = rule.render(value), rule.render(rule.threshold)
        if status == "firing":
            text = f":rotating_light: InsiteChart on {self.host}: {rule.title} is {shown}"
            text += f" (threshold {limit})"
        else:
            text = f":white_check_mark: InsiteChart on {self.host}: {rule.title} recovered"
            text += f", now {shown} (threshold {limit})"
        return {
            "text": text,
            "alert": rule.name,
            "status": status,
            "value": value,
            "threshold": rule.threshold,
            "host": self.host,
        }

    async def _deliver(self, client: httpx.AsyncClient, message: dict[str, Any]) -> None:
        try:
            response = await client.post(self.url, json=message)
            response.raise_for_status()
        except Exception as exc:
            log.warning(
                "alert %s (%s) not delivered: %s",
                message["alert"],
                message["status"],
                exc.__class__.__name__,
            )

    async def run_forever(self, read: Callable[[], Reading]) -> None:
        """Evaluate every `alert_interval_s` until cancelled."""
        while True:
            await asyncio.sleep(self.settings.alert_interval_s)
            try:
                await self.evaluate(read())
            except Exception:
                log.exception("alert evaluation failed")
