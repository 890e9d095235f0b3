"""Alerts reach a real local webhook receiver once per incident, with a recovery message."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.alerts import Alerts, Reading
from tests.clock import Clock
from tests.conftest import graphql, serve

PORTS = range(8710, 8800)  # this area's port range


class Receiver(ThreadingHTTPServer):
    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), ReceiverHandler)
        self.messages: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.messages.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    for port in PORTS:
        try:
            server = Receiver(port)
        except OSError:
            continue
        break
    else:
        pytest.fail("no free port in 8710..8799 for the webhook receiver")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def reading(p95_s: float = 0.1, requests: int = 100, **changes: float) -> Reading:
    values: dict[str, Any] = {
        "requests": requests,
        "p95_s": p95_s,
        "p99_s": 0.2,
        "error_rate": 0.0,
        "memory_percent": 10.0,
        "cpu_percent": 10.0,
    }
    values.update(changes)
    return Reading(**values)


async def test_an_incident_is_one_alert_then_one_recovery_and_cooldown_holds_flapping(
    receiver: Receiver,
) -> None:
    clock = Clock()
    settings = Settings(alert_webhook_url=receiver.url, alert_cooldown_s=600)
    alerts = Alerts(settings, clock=clock)

    for _ in range(3):  # one incident, seen by three evaluations
        await alerts.evaluate(reading(p95_s=2.5))
        clock.now += 30
    await alerts.evaluate(reading(p95_s=0.3))
    assert [(m["alert"], m["status"]) for m in receiver.messages] == [
        ("p95_latency", "firing"),
        ("p95_latency", "resolved"),
    ]
    assert "p95 latency is 2.50 s (threshold 2.00 s)" in receiver.messages[0]["text"]
    assert receiver.messages[0]["value"] == 2.5

    clock.now += 60  # flaps back within the cooldown: silent, and so is its recovery
    await alerts.evaluate(reading(p95_s=3.0))
    await alerts.evaluate(reading(p95_s=0.3))
    assert len(receiver.messages) == 2

    clock.now += 600  # a new incident after the cooldown is reported
    await alerts.evaluate(reading(p95_s=3.0))
    assert [m["status"] for m in receiver.messages] == ["firing", "resolved", "firing"]


async def test_each_threshold_fires_its_own_alert(receiver: Receiver) -> None:
    alerts = Alerts(Settings(alert_webhook_url=receiver.url), clock=Clock())
    await alerts.evaluate(reading(p99_s=6.0, error_rate=0.2, memory_percent=90.0, cpu_percent=95.0))
    assert sorted(m["alert"] for m in receiver.messages) == [
        "cpu",
        "error_rate",
        "memory",
        "p99_latency",
    ]
    error = next(m for m in receiver.messages if m["alert"] == "error_rate")
    assert "error rate is 20.0% (threshold 5.0%)" in error["text"]


async def test_rules_about_traffic_wait_for_enough_requests(receiver: Receiver) -> None:
    alerts = Alerts(Settings(alert_webhook_url=receiver.url, alert_min_requests=20), Clock())
    await alerts.evaluate(reading(p95_s=9.0, error_rate=1.0, requests=19))
    assert receiver.messages == []


async def test_a_dead_webhook_is_logged_and_never_raises() -> None:
    settings = Settings(alert_webhook_url="http://127.0.0.1:9/hook", alert_timeout_s=1)
    alerts = Alerts(settings, clock=Clock())
    [message] = await alerts.evaluate(reading(p95_s=5.0))
    assert message["status"] == "firing"


def statuses(receiver: Receiver, alert: str) -> list[str]:
    return [m["status"] for m in receiver.messages if m["alert"] == alert]


async def test_the_lifespan_schedules_alerts_from_real_requests_and_stops_them(
    db: Database, settings: Settings, operations: dict[str, str], receiver: Receiver
) -> None:
    app = create_app(
        settings.model_copy(
            update={
                "alert_webhook_url": receiver.url,
                "alert_interval_s": 0.05,
                "alert_min_requests": 1,
                "alert_p95_s": 1e-9,
                "alert_cpu_percent": 100.0,  # the machine's own load must not add alerts
                "alert_memory_percent": 100.0,
                "metrics_window_s": 0.5,
            }
        )
    )
    async with serve(app) as client:
        assert "errors" not in await graphql(client, operations["StockList"])
        for _ in range(100):  # the window empties 0.5 s after the request: recovery
            if len(statuses(receiver, "p95_latency")) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # more evaluations: nothing more is sent
        tasks = list(app.state.resources.monitor._tasks)
    assert statuses(receiver, "p95_latency") == ["firing", "resolved"]
    assert {m["alert"] for m in receiver.messages} == {"p95_latency"}
    assert tasks and all(task.done() for task in tasks)
