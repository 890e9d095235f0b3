"""Observability: per-request traces, Prometheus metrics, slow SQL, windowed stats and alerts."""
