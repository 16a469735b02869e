"""OpenTelemetry traces from the real server, exported over OTLP to a collector the
test runs (a real gRPC TraceService): a server span per request continuing the
client's trace (W3C traceparent sent by ServingClient), and a span per batch linked to
every request it carried. Configured by the standard OTEL_* variables only."""

from __future__ import annotations

from concurrent import futures

import numpy as np
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from clients.client import ServingClient
from contract.tracing import tracer
from tests.launcher import ServerProcess
from tests.otlp_collector import Collector
from tests.serving.conftest import write_doubler

X = np.ones((1, 2), np.float32)


@pytest.fixture
def traced_env(monkeypatch):
    """The server process's OTEL_* settings, pointing at a collector of the test's."""
    with Collector() as collector:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "tfstack-test")
        yield collector


@pytest.fixture(scope="module")
def client_spans():
    """This process's own tracer (the caller's side), recording in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test-caller"), exporter


def attributes(span) -> dict:
    return {kv.key: next(v for v in (kv.value.string_value, kv.value.int_value) if v != "")
            for kv in span.attributes}


def test_a_server_span_continues_the_callers_trace(tmp_path, traced_env, client_spans):
    write_doubler(tmp_path / "1")
    caller, _ = client_spans
    with ServerProcess("--model_name=m", f"--model_base_path={tmp_path}") as server:
        with caller.start_as_current_span("caller") as span, \
                ServingClient(server.target, deadline=30) as client:
            client.predict("m", {"x": X})
            context = span.get_span_context()
        server.stop()  # the server exports what it buffered as it exits
    [served] = [s for s in traced_env.spans
                if s.name == "/tensorflow.serving.PredictionService/Predict"]
    assert served.trace_id == context.trace_id.to_bytes(16, "big")
    assert served.parent_span_id == context.span_id.to_bytes(8, "big")
    assert served.kind == served.SPAN_KIND_SERVER
    labels = attributes(served)
    assert (labels["tfstack.model"], labels["tfstack.version"], labels["tfstack.signature"],
            labels["tfstack.status"]) == ("m", "1", "serving_default", "OK")
    assert {"inputs decoded", "validated and admitted"} <= {e.name for e in served.events}


def test_a_batch_span_links_every_request_it_carried(tmp_path, traced_env):
    write_doubler(tmp_path / "1")
    config = tmp_path / "batching.config"
    config.write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 500000 } "
                      "max_enqueued_batches { value: 8 }")
    with ServerProcess("--model_name=m", f"--model_base_path={tmp_path}",
                       "--enable_batching", f"--batching_parameters_file={config}") as server:
        with ServingClient(server.target, deadline=30) as client:
            with futures.ThreadPoolExecutor(2) as pool:  # both within one batch timeout
                list(pool.map(lambda _: client.predict("m", {"x": X}), range(2)))
        server.stop()
    requests = {s.span_id for s in traced_env.spans if s.name.endswith("/Predict")}
    batches = [s for s in traced_env.spans if s.name == "batch"]
    assert len(requests) == 2
    assert {link.span_id for batch in batches for link in batch.links} == requests
    assert any(attributes(batch)["tfstack.requests"] == 2 for batch in batches)


def test_tracing_is_off_unless_an_exporter_is_named(monkeypatch):
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    tracer.cache_clear()
    assert tracer("tfstack.serving") is None  # the request path then does no tracing work
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    tracer.cache_clear()
    assert tracer("tfstack.serving") is None
    assert isinstance(trace.get_current_span(), trace.NonRecordingSpan)
