"""What batch scoring does with a failed call, for the local scorer and the Beam
handlers alike: retry a transient failure with backoff, split a batch too large
for the message limit, stop the run (never an error row) when the retries run out.

Transient: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (a server's admission
limits) and CANCELLED (which gRPC reports for a call caught in a server's
shutdown). RESOURCE_EXHAUSTED saying "Received/Sent message larger than max" is
not transient: the same batch would fail again; its halves may not.
"""

from __future__ import annotations

import random

import grpc

from clients.errors import ClientError

TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED)


class ServerUnavailable(RuntimeError):
    """Transient failures outlasted the retries: the run stops, and what it wrote
    stands (the local scorer's output is resumable; a Beam bundle is retried).

    `error` is the last ClientError; `summary`, the local run's counts when known.
    """

    def __init__(self, error: ClientError, attempts: int):
        super().__init__(f"{error} (still failing after {attempts} attempts)")
        self.error = error
        self.summary = None


def too_large(error: Exception) -> bool:
    """Whether a call failed for gRPC's message size limit, on either side."""
    return (isinstance(error, ClientError)
            and error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            and "message larger than max" in error.details.lower())


def transient(error: Exception) -> bool:
    """Whether the same call may succeed later."""
    return isinstance(error, ClientError) and error.code in TRANSIENT and not too_large(error)


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def refusal_reason(error: ClientError) -> str:
    """The error row of an input the server refused: its status and message (not the
    call's request id, which would differ from run to run)."""
    reason = f"{error.code.name}: {error.details}"
    return f"{reason} (this input alone is over the message size limit)" if too_large(
        error) else reason
