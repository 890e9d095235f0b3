"""What a run prints and saves: the machine, the figures, and the ratios against the baseline."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.server import METRICS_TOKEN

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def metrics_cache_hit_ratio(base_url: str) -> float | str:
    """The server's cache hit ratio from Prometheus `/metrics`, or "n/a" when it exposes none."""
    try:
        response = httpx.get(
            f"{base_url}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=2.0,
        )
    except httpx.HTTPError:
        return "n/a"
    if response.status_code != 200:
        return "n/a"
    hits = misses = 0.0
    for line in response.text.splitlines():
        if not line.startswith("insitechart_cache_requests_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        if 'result="hit"' in labels:
            hits += float(value)
        elif 'result="miss"' in labels:
            misses += float(value)
    return round(hits / (hits + misses), 3) if hits + misses else "n/a"


def server_pauses(base_url: str) -> dict[str, Any] | str:
    """The server's longest GC pause per generation, its collections, its longest event-loop
    lag and the upkeep's full collections, from `/metrics`; "n/a" when it exposes none."""
    try:
        response = httpx.get(
            f"{base_url}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=5.0,
        )
    except httpx.HTTPError:
        return "n/a"
    if response.status_code != 200 or "insitechart_gc_pause_seconds" not in response.text:
        return "n/a"
    found: dict[str, Any] = {"gc_pause_max_ms": {}, "gc_collections": {}}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            generation = sample.labels.get("generation", "")
            if sample.name == "insitechart_gc_pause_max_seconds":
                found["gc_pause_max_ms"][generation] = round(sample.value * 1000, 1)
            elif sample.name == "insitechart_gc_pause_seconds_count":
                found["gc_collections"][generation] = int(sample.value)
            elif sample.name == "insitechart_event_loop_lag_max_seconds":
                found["loop_lag_max_ms"] = round(sample.value * 1000, 1)
            elif sample.name == "insitechart_full_gc_total":
                found["upkeep_full_collections"] = int(sample.value)
    return found


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, rounded; None when the denominator is zero."""
    return round(numerator / denominator, 1) if denominator else None


def save(name: str, report: dict[str, Any], out: Path | None = None) -> Path:
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
