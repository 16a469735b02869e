"""OpenTelemetry tracing, as the standard `OTEL_*` variables configure it, shared by
the server and the clients: W3C `traceparent` travels in gRPC metadata and HTTP
headers, and spans go to the exporter `OTEL_TRACES_EXPORTER` names (`otlp`, to
`OTEL_EXPORTER_OTLP_ENDPOINT`; `console`), with `OTEL_SERVICE_NAME` and
`OTEL_TRACES_SAMPLER` read by the SDK itself.

Off by default, at no cost: without `OTEL_TRACES_EXPORTER` (or with `none`), or
without the SDK installed, `tracer()` is None and callers do no tracing work at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from functools import cache


@cache
def tracer(name: str):
    """The tracer of `name`, or None when tracing is off."""
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")[0].strip()
    if exporter in ("", "none"):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:  # the API alone: nothing would be recorded
        return None
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()  # OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER: the SDK's
        provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
        trace.set_tracer_provider(provider)
    return trace.get_tracer(name)


def recording_span(name: str):
    """The current span when tracing is on for `name` and that span is sampled, else
    None: what a request not sampled skips (attributes, events, sizes, links)."""
    if tracer(name) is None:
        return None
    from opentelemetry import trace

    span = trace.get_current_span()
    return span if span.is_recording() else None


def _exporter(name: str):
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_ENDPOINT and the other OTLP settings
    raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: this build exports to otlp, console "
                     "or none")


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Adds the current span's `traceparent` (and `tracestate`) to `carrier`, when the
    caller has a current span; leaves it as it is otherwise."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return carrier
    propagate.inject(carrier)
    return carrier


def trace_metadata() -> list[tuple[str, str]] | None:
    """The caller's trace context (W3C traceparent) as gRPC metadata, so the server's
    spans join the caller's trace; None when the caller has no current span."""
    return list(inject({}).items()) or None


def extract(carrier: Mapping[str, str]):
    """The trace context a caller sent in `carrier` (metadata or headers), for a span
    to continue it."""
    from opentelemetry import propagate

    return propagate.extract(carrier)

