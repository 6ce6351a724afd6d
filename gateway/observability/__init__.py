"""Observability shared by every layer: OpenTelemetry tracing and the JSON log lines (metrics live with the API)."""
