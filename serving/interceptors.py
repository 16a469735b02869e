"""Cross-cutting concerns of both transports: bearer-token auth, TLS credentials and
the access log. gRPC gets them as a server interceptor, REST as middlewares."""

from __future__ import annotations

import hmac
import logging
import time
from pathlib import Path

import grpc
from aiohttp import web

from serving.config_protos import SSLConfig, read_text_proto

access_logger = logging.getLogger("serving.access")
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
    """Rejects calls without the bearer token (health and reflection stay open, for
    probes) and writes one access-log line per unary call when asked."""

    def __init__(self, token: str | None, access_log: bool):
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
        if not self._access_log:
            return _replace(handler, inner) if inner is _reject else handler

        async def logged(request, context):
            started = time.monotonic()
            try:
                return await inner(request, context)
            finally:
                code = context.code() or grpc.StatusCode.OK
                name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                access_logger.info("grpc %s %s %.1fms", method, name,
                                   1000 * (time.monotonic() - started))

        return _replace(handler, logged)


async def _reject(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                        "missing or wrong bearer token: send metadata "
                        "'authorization: Bearer <token>'")


def _replace(handler, behaviour):
    return grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


def rest_middlewares(token: str | None, access_log: bool) -> list:
    """aiohttp middlewares doing for REST what GrpcGuard does for gRPC."""
    middlewares = []
    if access_log:
        @web.middleware
        async def log_access(request: web.Request, handler):
            started = time.monotonic()
            response = await handler(request)
            access_logger.info("http %s %s %d %.1fms", request.method, request.path,
                               response.status, 1000 * (time.monotonic() - started))
            return response

        middlewares.append(log_access)
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
