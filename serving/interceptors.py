"""Cross-cutting concerns of both transports: request ids, bearer-token auth, TLS
credentials and the access log. gRPC gets them as a server interceptor, REST as
middlewares."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path

import grpc
from aiohttp import web
from opentelemetry.trace import SpanKind, StatusCode

from contract.defaults import REQUEST_ID_HEADER
from contract.tracing import extract, recording_span, tracer
from serving.access_log import (
    RECORD,
    RequestRecord,
    request_id,
    span_attributes,
    write,
)
from serving.config_protos import SSLConfig, read_text_proto

_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_OPEN_PATHS = ("/v2/health/live", "/v2/health/ready")  # REST probes, as gRPC health


def read_token(path: str | Path | None) -> str | None:
    """The bearer token in `path` (surrounding whitespace dropped), or None."""
    if not path:
        return None
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"{path} is empty; put the bearer token clients must send in it")
    return token


def _authorized(header: str | None, token: str) -> bool:
    return header is not None and hmac.compare_digest(header, f"Bearer {token}")


def ssl_credentials(ssl_config_file: str | Path) -> grpc.ServerCredentials:
    """gRPC server credentials from TF Serving's SSLConfig (PEM contents inline)."""
    config = read_text_proto(ssl_config_file, SSLConfig)
    if not config.server_key or not config.server_cert:
        raise ValueError(f"{ssl_config_file} needs server_key and server_cert (PEM contents)")
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() or None,
        require_client_auth=config.client_verify,
    )


class GrpcGuard(grpc.aio.ServerInterceptor):
    """Gives each unary call its request id (the client's `x-request-id`, else a new
    one, sent back in the initial metadata) and record, rejects calls without the
    bearer token (health and reflection stay open, for probes), and writes one
    access-log line per call when asked (`access_log`: "", "text" or "json")."""

    def __init__(self, token: str | None, access_log: str = ""):
        self._token = token
        self._access_log = access_log

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method
        metadata = dict(details.invocation_metadata or ())
        inner = handler.unary_unary
        if self._token and not method.startswith(_OPEN_METHODS) and not _authorized(
                metadata.get("authorization"), self._token):
            inner = _reject
        given, log_format = metadata.get(REQUEST_ID_HEADER), self._access_log

        async def recorded(request, context):
            record = RequestRecord(request_id(given), "grpc", method, context.peer())
            RECORD.set(record)
            await context.send_initial_metadata(((REQUEST_ID_HEADER, record.request_id),))
            response = None

            def finish() -> None:
                code = context.code() or grpc.StatusCode.OK
                record.status = code.name if isinstance(code, grpc.StatusCode) else str(code)
                if log_format or recording_span("tfstack.serving"):  # a walk of each
                    record.bytes_in, record.bytes_out = _size(request), _size(response)

            try:
                with request_span(record, metadata, finish):
                    response = await inner(request, context)
                    return response
            finally:
                if log_format:
                    write(record, log_format)

        return _replace(handler, recorded)


@contextmanager
def request_span(record: RequestRecord, carrier: Mapping[str, str],
                 finish: Callable[[], None]):
    """Runs the call; then `finish()` completes its record. With tracing on, the call
    is a server span continuing the caller's trace (W3C traceparent in `carrier`),
    the record's fields its attributes; with tracing off, nothing more happens."""
    spans = tracer("tfstack.serving")
    if spans is None:
        try:
            yield
        finally:
            finish()
        return
    with spans.start_as_current_span(record.method, context=extract(carrier),
                                     kind=SpanKind.SERVER) as span:
        try:
            yield
        finally:
            finish()
            if span.is_recording():  # sampled: a span not sampled takes no attributes
                span.set_attributes(span_attributes(record))
                if record.status not in ("OK", "200"):
                    span.set_status(StatusCode.ERROR, record.status)


def _size(message) -> int:
    return message.ByteSize() if hasattr(message, "ByteSize") else 0


async def _reject(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                        "missing or wrong bearer token: send metadata "
                        "'authorization: Bearer <token>'")


def _replace(handler, behaviour):
    return grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


def rest_middlewares(token: str | None, access_log: str = "") -> list:
    """aiohttp middlewares doing for REST what GrpcGuard does for gRPC: a request id
    (`X-Request-Id` in and out) and record per request, the bearer token, and the
    access-log line when asked."""

    @web.middleware
    async def record_request(request: web.Request, handler):
        record = RequestRecord(
            request_id(request.headers.get(REQUEST_ID_HEADER)), "http",
            f"{request.method} {request.path}", str(request.remote or ""),
            bytes_in=request.content_length or 0)
        RECORD.set(record)
        response = None

        def finish() -> None:
            record.status = str(response.status) if response is not None else "500"
            record.bytes_out = (response.content_length or 0) if response is not None else 0

        try:
            with request_span(record, request.headers, finish):
                try:
                    response = await handler(request)
                except web.HTTPException as e:  # aiohttp's own answers (404, 405)
                    response = e
                    raise
        finally:
            if response is not None:
                response.headers[REQUEST_ID_HEADER] = record.request_id
            if access_log:
                write(record, access_log)
        return response

    middlewares = [record_request]
    if token:
        @web.middleware
        async def require_token(request: web.Request, handler):
            if request.path not in _OPEN_PATHS and not _authorized(
                    request.headers.get("Authorization"), token):
                return web.json_response(
                    {"error": "missing or wrong bearer token: send the header "
                              "'Authorization: Bearer <token>'"}, status=401)
            return await handler(request)

        middlewares.append(require_token)
    return middlewares
