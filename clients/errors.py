"""The one error type of the client: a failed call, with its gRPC status (and its
kind for an answer the client refuses to read)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from contract.defaults import REQUEST_ID_HEADER

if TYPE_CHECKING:
    from clients.channels import ChannelSecurity




class ClientError(Exception):
    """A call that failed; `code` is the gRPC status, `details` the server's message and
    `request_id` the id the server logged the call under (its `x-request-id`), if any.

    Raised `from` the `grpc.RpcError`, so the original stays reachable.
    """

    def __init__(self, code: grpc.StatusCode, details: str, target: str = "",
                 request_id: str = ""):
        self.code = code
        self.details = details
        self.target = target
        self.request_id = request_id
        super().__init__(f"{code.name}: {details}"
                         + (f" (request id {request_id})" if request_id else ""))

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, target: str,
                       security: ChannelSecurity | None = None) -> "ClientError":
        """Wraps `error`, adding what to check when the cause is on the client's side
        (the server is down, TLS or the bearer token is missing or wrong)."""
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.UNAUTHENTICATED:
            details = f"{details}; {_token_hint(security)}"
        elif code == grpc.StatusCode.UNAVAILABLE:
            details = _unavailable(details, target, security)
        return cls(code, details, target, _request_id(error))


class MalformedResponse(ClientError):
    """The server answered, but not as the wire contract says (a missing output, a
    shape past the response budget, text that is not UTF-8): the server's fault, which
    calling again will not mend. INTERNAL, as gRPC reports a response it cannot parse."""

    def __init__(self, details: str, target: str = ""):
        super().__init__(grpc.StatusCode.INTERNAL,
                         f"the server's answer is malformed: {details}", target)


def _request_id(error: grpc.RpcError) -> str:
    """The request id the server sent back with its answer, if it did."""
    for metadata in (getattr(error, "initial_metadata", None),
                     getattr(error, "trailing_metadata", None)):
        for key, value in (metadata() or ()) if callable(metadata) else ():
            if key == REQUEST_ID_HEADER:
                return value
    return ""


def _token_hint(security: ChannelSecurity | None) -> str:
    if security is None or not (security.token or security.token_file):
        return ("the server wants a bearer token: pass --token-file FILE (or set "
                "TFSTACK_TOKEN_FILE; in Python, ChannelSecurity(token_file=...))")
    source = f"in {security.token_file}" if security.token_file else "given"
    return (f"the server refused the bearer token {source}: it must be the one in the "
            "server's --auth_token_file")


def _unavailable(details: str, target: str, security: ChannelSecurity | None) -> str:
    lowered = details.lower()
    tls = security is not None and security.uses_tls
    if "hostname verification" in lowered:
        return (f"the server's certificate does not name the host of {target} ({details}); "
                "connect by a name it carries, or pass --tls-server-name NAME")
    if "wrong_version_number" in lowered:
        return (f"TLS handshake with {target} failed ({details}); the server does not "
                "speak TLS there: drop --tls-ca/--tls-cert/--tls")
    if "handshake" in lowered or "certificate_verify" in lowered:
        return (f"TLS handshake with {target} failed ({details}); check that --tls-ca is "
                "the CA that signed the server's certificate")
    if "socket closed" in lowered:
        wanted = ("a client certificate (mutual TLS: --tls-cert and --tls-key)" if tls
                  else "TLS (--tls-ca FILE)")
        return (f"{target} closed the connection ({details}); the server may want "
                f"{wanted}, or be shutting down")
    if _is_connection_failure(details):
        return (f"cannot reach a model server at {target} ({details}); "
                "is `tfstack serve` running there? `make up` starts one")
    return details


def _is_connection_failure(details: str) -> bool:
    lowered = details.lower()
    return any(s in lowered for s in ("failed to connect", "connection refused",
                                      "connect failed", "dns resolution failed"))
