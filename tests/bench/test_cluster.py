"""bench cluster: the balancer's configuration it writes and the phases it reports."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.cluster import Timeline, error_kind, haproxy_config, phase_summary


def test_local_config_lists_each_instance_instead_of_dns_discovery() -> None:
    config = haproxy_config([9001, 9002, 9003])
    directives = "\n".join(x for x in config.splitlines() if not x.lstrip().startswith("#"))
    assert "server-template" not in directives
    assert "resolvers" not in directives
    assert "    server app1 127.0.0.1:9001\n" in config
    assert "    server app3 127.0.0.1:9003" in config
    assert "uri /readyz" in config  # the deploy file's health checks are kept
    assert "    maxconn 8000" in config


def test_a_template_without_its_server_line_is_refused() -> None:
    with pytest.raises(ValueError, match="server-template"):
        haproxy_config([9001], template="defaults\n    mode http\n")


def test_haproxy_accepts_the_local_config(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        if os.environ.get("INSITECHART_REQUIRE_SERVICES"):
            pytest.fail("haproxy is not installed (.ci/run installs it)", pytrace=False)
        pytest.skip("haproxy is not installed")
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy_config([9001, 9002]))
    env = {**os.environ, "LISTEN_PORT": "18080", "STATS_PORT": "18404"}
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(path)], env=env, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_errors_are_counted_by_kind() -> None:
    assert error_kind("HTTP 503: no server available") == "HTTP 503"
    assert error_kind('{"message": "x", "extensions": {"code": "SERVICE_UNAVAILABLE"}}') == (
        "SERVICE_UNAVAILABLE"
    )
    assert error_kind("connection reset by peer") == "CONNECTION"


def test_phases_split_requests_and_subscriber_returns_by_time() -> None:
    line = Timeline(started=0.0)
    line.requests = [
        (1.0, 10.0, None),
        (2.0, 20.0, None),
        (5.5, 300.0, "HTTP 502: bad gateway"),
        (6.0, 40.0, None),
        (12.0, 15.0, None),
    ]
    line.cuts = [5.1, 5.2]
    line.returns = [(5.1, 0.4), (5.2, 1.5)]
    before = phase_summary(line, 0.0, 5.0)
    during = phase_summary(line, 5.0, 10.0)
    after = phase_summary(line, 10.0, 15.0)
    assert (before["requests"], before["errors"], before["p95_ms"]) == (2, 0, 20.0)
    assert during["requests"] == 2
    assert during["errors_by_kind"] == {"HTTP 502": 1}
    assert (during["subscribers_cut"], during["subscribers_back"]) == (2, 2)
    assert during["back_p95_s"] == 1.5
    assert (after["requests"], after["subscribers_cut"]) == (1, 0)
