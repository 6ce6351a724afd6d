"""OpenTelemetry traces when ``console.tracing`` is on: a span per HTTP request (FastAPI instrumentation), and
spans for a message's steps through :func:`message_span` wherever the pipeline calls it.

The spans go to the tracer provider passed in, or the global one: an operator sets an SDK
``TracerProvider`` with the exporter of their choice; tests use an ``InMemorySpanExporter``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import Span, TracerProvider

TRACER = "xoev-gateway"


def instrument(app: FastAPI, provider: TracerProvider | None = None) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics,console/static"
    )


@contextmanager
def message_span(
    name: str, message_id: str, provider: TracerProvider | None = None, **attributes: str | int
) -> Iterator[Span]:
    tracer = trace.get_tracer(TRACER, tracer_provider=provider)
    with tracer.start_as_current_span(name, attributes={"xgw.message_id": message_id, **attributes}) as span:
        yield span
