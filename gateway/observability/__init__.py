"""Observability shared by every layer: OpenTelemetry tracing (metrics and logs live with the API for now)."""
