"""The one retry-and-split policy of the local scorer and the Beam handlers
(`clients.scoring.retrying.results_of`), driven by a call that fails as a server
would: the end-to-end runs against real servers are in test_scoring_faults.py and
test_beam_scoring.py."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from clients.errors import ClientError, MalformedResponse
from clients.scoring.retrying import (
    RetryPolicy,
    ServerUnavailable,
    refused_by_server,
    results_of,
)

FAST = RetryPolicy(retries=3, backoff_seconds=0.0, max_backoff_seconds=0.0)


class Server:
    """Answers {"value": payload}; refuses any batch holding a negative payload, and
    fails the first `outages` calls with UNAVAILABLE. Records every batch it saw."""

    def __init__(self, outages: int = 0):
        self.outages, self.calls = outages, []

    async def __call__(self, payloads: list) -> list[dict]:
        self.calls.append(list(payloads))
        if self.outages:
            self.outages -= 1
            raise ClientError(grpc.StatusCode.UNAVAILABLE, "connection refused")
        if any(p < 0 for p in payloads):
            raise ClientError(grpc.StatusCode.INVALID_ARGUMENT, "negative input")
        return [{"value": p} for p in payloads]


def run(payloads, server, policy=FAST):
    tally: list[str] = []
    results = asyncio.run(results_of(payloads, server, refused_by_server, policy,
                                     tally.append))
    return results, tally


def test_a_refused_batch_is_split_down_to_the_inputs_at_fault():
    server = Server()
    results, tally = run([1, 2, -3, 4, 5, -6, 7, 8], server)
    assert results == [{"value": 1}, {"value": 2},
                       {"error": "INVALID_ARGUMENT: negative input"}, {"value": 4},
                       {"value": 5}, {"error": "INVALID_ARGUMENT: negative input"},
                       {"value": 7}, {"value": 8}]
    assert tally == ["refused", "refused"]
    assert [-3] in server.calls and [-6] in server.calls
    assert all(len(call) <= 8 for call in server.calls)


def test_a_transient_failure_is_retried_and_counted():
    server = Server(outages=2)
    results, tally = run([1, 2], server)
    assert results == [{"value": 1}, {"value": 2}]
    assert tally == ["retries", "retries"]
    assert len(server.calls) == 3


def test_an_outage_outlasting_the_retries_stops_the_run_without_error_rows():
    server = Server(outages=10)
    with pytest.raises(ServerUnavailable, match="still failing after 4 attempts"):
        run([1, -2], server)
    assert len(server.calls) == 4  # never split: an outage is not the inputs' fault


def test_a_malformed_answer_is_the_servers_fault_and_propagates():
    async def malformed(payloads):
        raise MalformedResponse(grpc.StatusCode.INTERNAL, "scores missing")

    with pytest.raises(MalformedResponse):
        run([1, 2, 3], malformed)


def test_a_batch_over_the_message_limit_is_split_and_a_lone_input_says_so():
    async def limited(payloads):
        if len(payloads) > 1 or payloads[0] == "huge":
            raise ClientError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              "Sent message larger than max (9000 vs. 8192)")
        return [{"value": payloads[0]}]

    results, _ = run(["a", "huge", "b"], limited)
    assert results[0] == {"value": "a"} and results[2] == {"value": "b"}
    assert results[1]["error"].endswith("(this input alone is over the message size limit)")


def test_backoff_is_full_jitter_under_the_cap():
    policy = RetryPolicy(retries=5, backoff_seconds=0.5, max_backoff_seconds=2.0)
    waits = [policy.backoff(attempt) for attempt in range(10) for _ in range(50)]
    assert all(0 <= w <= 2.0 for w in waits)
    assert max(policy.backoff(0) for _ in range(200)) <= 0.5
    assert max(waits) > 1.0  # the cap is reached, not only the base
