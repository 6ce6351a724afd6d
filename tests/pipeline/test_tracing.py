"""With tracing on, every pipeline step of a message is an OpenTelemetry span carrying its ids."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.worker import Worker
from tests.pipeline import factories


def test_message_steps_are_traced(ctx: PipelineContext) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ctx.settings = ctx.settings.model_copy(
        update={"console": ctx.settings.console.model_copy(update={"tracing": True})}
    )
    ctx.tracer_provider = provider
    name, data = factories.offer(seed=31)
    offer = factories.submit_bytes(ctx, data, filename=name).message
    assert Worker(ctx, "w").drain() > 0
    spans = exporter.get_finished_spans()
    mine = [s for s in spans if s.attributes and s.attributes.get("xgw.message_id") == str(offer.id)]
    assert mine, [s.name for s in spans]
    assert {s.name for s in mine} == {"pipeline.message"}
    assert mine[0].attributes is not None
    assert mine[0].attributes["process_id"] == offer.process_id
    assert mine[0].attributes["message_type"] == "0501"
