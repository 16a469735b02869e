"""An OTLP trace collector on 127.0.0.1 (a real gRPC TraceService) that keeps every
span it is sent: for tests and benchmarks of the server's traces."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Started on entry, stopped on exit; `spans` holds what it received, `endpoint`
    is what OTEL_EXPORTER_OTLP_ENDPOINT should say."""

    def __init__(self):
        self.spans = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def Export(self, request, context):
        with self._lock:
            self.spans += [span for resource in request.resource_spans
                           for scope in resource.scope_spans for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()

    def __enter__(self) -> Collector:
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(5)
