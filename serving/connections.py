"""Bounds on connections, for both transports: how many may be open, how long a peer
may take to send what it started, and how long an idle one is kept.

gRPC gets them as core channel arguments plus an interceptor that gives each call
`receive_timeout` seconds to deliver its request message. REST
gets a protocol factory in front of aiohttp's, which counts connections and closes one
whose request headers do not arrive within `header_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass

import grpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    """How many connections each listener keeps, and for how long a peer may stall."""

    # Open connections per listener; 0: a share of the process's file descriptors
    # (half for gRPC, a quarter for REST), so neither can exhaust them.
    max_connections: int = 0
    receive_timeout: float = 60.0  # seconds for a gRPC request message to arrive
    header_timeout: float = 10.0  # seconds for a REST request's headers to arrive
    idle_timeout: float = 300.0  # seconds a connection with no calls is kept
    handshake_timeout: float = 10.0  # seconds for a new connection's TLS/HTTP/2 setup

    def connections(self, share: int) -> int:
        """The connection cap of a listener given `1/share` of the descriptors."""
        if self.max_connections:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(64, soft // share)


def grpc_options(limits: ConnectionLimits, max_concurrent_rpcs: int | None) -> list:
    """gRPC core arguments for `limits`. Core keeps calls the server has not yet
    taken in a backlog and cancels what overflows it, which clients see as CANCELLED;
    sized above the concurrent-call cap, overload is refused by that cap instead, with
    RESOURCE_EXHAUSTED as TF Serving answers it."""
    backlog = 4 * max(max_concurrent_rpcs or 0, 1024)
    return [
        ("grpc.max_allowed_incoming_connections", limits.connections(2)),
        ("grpc.server_handshake_timeout_ms", int(limits.handshake_timeout * 1000)),
        ("grpc.max_connection_idle_ms", int(limits.idle_timeout * 1000)),
        ("grpc.server.max_pending_requests", backlog),
        ("grpc.server.max_pending_requests_hard_limit", 2 * backlog),
    ]


class ReceiveTimeout(grpc.aio.ServerInterceptor):
    """Ends a unary call whose request message has not fully arrived `seconds` after
    its headers with DEADLINE_EXCEEDED, so a stalled upload cannot pin its partial
    message. grpc.aio reads a unary request before any handler sees it, so the call is
    served as stream-unary: the handler reads the one message itself, under a timer."""

    def __init__(self, seconds: float):
        self._seconds = seconds

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        behaviour, seconds = handler.unary_unary, self._seconds

        async def read_then_answer(requests, context):
            try:
                async with asyncio.timeout(seconds):
                    request = await anext(aiter(requests))
            except TimeoutError:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                    f"the request message did not arrive within {seconds:g} "
                                    "s of the call (--receive_timeout_seconds)")
            except StopAsyncIteration:
                await context.abort(grpc.StatusCode.INTERNAL,
                                    "Failed to parse request: the call carried no message")
            return await behaviour(request, context)

        return grpc.stream_unary_rpc_method_handler(
            read_then_answer, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


class GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind a header deadline: a new
    connection, and bytes arriving while no request is being handled, owe a request's
    headers within `header_timeout`; an idle keep-alive connection is aiohttp's to
    close (keepalive_timeout)."""

    def __init__(self, guard: RestConnections, inner: asyncio.Protocol):
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self.handling = 0

    def connection_made(self, transport) -> None:
        self._transport = transport
        self._guard.open.add(self)
        self._arm()  # a new connection owes its first request's headers
        self._inner.connection_made(transport)

    def _arm(self) -> None:
        self._deadline = asyncio.get_running_loop().call_later(
            self._guard.header_timeout, self._close)

    def data_received(self, data: bytes) -> None:
        if not self.handling and self._deadline is None:
            self._arm()
        self._inner.data_received(data)

    def request_started(self) -> None:
        self.handling += 1
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def request_ended(self) -> None:
        self.handling -= 1

    def _close(self) -> None:
        self._deadline = None
        if not self.handling and self._transport is not None:
            self._transport.close()

    def eof_received(self):
        return self._inner.eof_received()

    def connection_lost(self, exc) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._guard.open.discard(self)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class RestConnections:
    """The protocol factory of the REST listener: at most `max_connections` open (a
    connection beyond is closed at once), each under a header deadline."""

    def __init__(self, factory, max_connections: int, header_timeout: float):
        self._factory = factory
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open: set[GuardedConnection] = set()
        self._refused = 0

    def __call__(self) -> asyncio.Protocol:
        if len(self.open) >= self.max_connections:
            self._refused += 1
            if self._refused % 1000 == 1:
                logger.warning("REST connections at the limit of %d: closing new ones",
                               self.max_connections)
            return _Refused()
        return GuardedConnection(self, self._factory())


class _Refused(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        transport.close()
