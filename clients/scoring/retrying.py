"""What batch scoring does with a failed call, for the local scorer and the Beam
handlers alike (`results_of`): retry a transient failure with backoff, split a batch
the server refuses (or one over the message limit) in halves down to the inputs at
fault, and stop the run (never an error row) when the retries run out.

Transient: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (a server's admission
limits) and CANCELLED (which gRPC reports for a call caught in a server's
shutdown). RESOURCE_EXHAUSTED saying "Received/Sent message larger than max" is
not transient: the same batch would fail again; its halves may not.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from clients.errors import ClientError, MalformedResponse

TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED)

Call = Callable[[list], Awaitable[list[dict]]]
Refusal = Callable[[Exception], "str | None"]


class ServerUnavailable(RuntimeError):
    """Transient failures outlasted the retries: the run stops, and what it wrote
    stands (the local scorer's output is resumable; a Beam bundle is retried).

    `error` is the last ClientError; `summary`, the local run's counts when known.
    """

    def __init__(self, error: ClientError, attempts: int):
        super().__init__(f"{error} (still failing after {attempts} attempts)")
        self.error = error
        self.summary = None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a call on a transient failure, with exponential backoff and full
    jitter: the n-th wait is uniform in [0, min(max_backoff_seconds, backoff_seconds * 2**n)]."""

    retries: int = 8
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff_seconds,
                                     self.backoff_seconds * 2 ** attempt))


async def results_of(payloads: list, call: Call, refusal: Refusal,
                     policy: RetryPolicy = RetryPolicy(retries=0),
                     tally: Callable[[str], None] = lambda name: None) -> list[dict]:
    """One result per payload, in order: what `call` answers, or {"error": reason}
    for an input `refusal` names a reason for. A refused batch is split in halves
    down to single inputs, so the others still score; an exception `refusal` gives
    no reason for (an outage outlasting the retries, an answer the server got wrong)
    propagates. `tally` hears "retries" and "refused"."""
    if not payloads:
        return []
    try:
        return await _retried(call, payloads, policy, tally)
    except Exception as e:
        reason = refusal(e)
        if reason is None:
            raise
        if len(payloads) > 1:
            half = len(payloads) // 2
            return (await results_of(payloads[:half], call, refusal, policy, tally)
                    + await results_of(payloads[half:], call, refusal, policy, tally))
        tally("refused")
        return [{"error": reason}]


async def _retried(call: Call, payloads: list, policy: RetryPolicy,
                   tally: Callable[[str], None]) -> list[dict]:
    for attempt in range(policy.retries + 1):
        try:
            return await call(payloads)
        except ClientError as e:
            if not transient(e):
                raise
            if attempt == policy.retries:
                raise ServerUnavailable(e, attempt + 1) from e
            tally("retries")
            await asyncio.sleep(policy.backoff(attempt))
    raise AssertionError("unreachable")


def too_large(error: Exception) -> bool:
    """Whether a call failed for gRPC's message size limit, on either side."""
    return (isinstance(error, ClientError)
            and error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            and "message larger than max" in error.details.lower())


def transient(error: Exception) -> bool:
    """Whether the same call may succeed later."""
    return isinstance(error, ClientError) and error.code in TRANSIENT and not too_large(error)


def refused_by_server(error: Exception) -> str | None:
    """The error row of an input the server refused for good: its status and message
    (not the call's request id, which would differ from run to run). None for a
    failure that is not the inputs' (an outage, an answer the server got wrong)."""
    if (not isinstance(error, ClientError) or transient(error)
            or isinstance(error, MalformedResponse)):
        return None
    reason = f"{error.code.name}: {error.details}"
    return f"{reason} (this input alone is over the message size limit)" if too_large(
        error) else reason
