"""The one error type of the client: a failed call, with its gRPC status."""

from __future__ import annotations

import grpc


class ClientError(Exception):
    """A call that failed; `code` is the gRPC status and `details` the server's message.

    Raised `from` the `grpc.RpcError`, so the original stays reachable.
    """

    def __init__(self, code: grpc.StatusCode, details: str, target: str = ""):
        self.code = code
        self.details = details
        self.target = target
        super().__init__(f"{code.name}: {details}")

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, target: str) -> "ClientError":
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE and _is_connection_failure(details):
            details = (f"cannot reach a model server at {target} ({details}); "
                       "is `tfstack serve` running there? `make up` starts one")
        return cls(code, details, target)


def _is_connection_failure(details: str) -> bool:
    lowered = details.lower()
    return any(s in lowered for s in ("failed to connect", "connection refused",
                                      "connect failed", "dns resolution failed"))
