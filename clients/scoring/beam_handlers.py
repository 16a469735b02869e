"""Beam ModelHandlers of `tfstack score --runner`: a TF Serving endpoint over gRPC
(`ServingHandler`), or the SavedModel loaded in each worker (`SavedModelHandler`).

Both take (Item, payload) pairs in batches Beam makes (`batch_elements_kwargs`,
sized like the server's batching) and give PredictionResults whose inference is
the row's result fields, or {"error": why} for an input the model refuses: a
refused batch (or one over the message size limit) is split in halves to find the
inputs at fault, so the others still score. RunInference shares the loaded model
(the client, or the SavedModel) between the threads of a worker process.

A transient failure (the server down, restarting or overloaded) is retried with
backoff; when the retries run out `ServerUnavailable` is raised, so the bundle
fails and the runner retries it: an outage never becomes error rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from clients.channels import ChannelSecurity
from clients.client import ServingClient
from clients.errors import ClientError, MalformedResponse
from clients.scoring.retrying import (
    ServerUnavailable,
    backoff_seconds,
    refusal_reason,
    transient,
)

NAMESPACE = "tfstack"
Example = tuple  # (Item, payload)


def count(name: str) -> None:
    """Adds one to a counter of the bundle this thread runs (Beam keeps metrics per
    thread: an increment in a thread of our own would be lost)."""
    Metrics.counter(NAMESPACE, name).inc()


def score_batch(batch: Sequence[Example], call: Callable[[list], list[dict]],
                refusal: Callable[[Exception], str | None],
                tally: Callable[[str], None] = count) -> list[PredictionResult]:
    """PredictionResults of `call` on the batch's payloads; when `refusal` names a
    reason for the exception raised, the batch is split in halves, down to single
    inputs that get {"error": reason}. Other exceptions propagate."""
    try:
        results = call([payload for _, payload in batch])
    except Exception as e:
        reason = refusal(e)
        if reason is None:
            raise
        if len(batch) > 1:
            half = len(batch) // 2
            return (score_batch(batch[:half], call, refusal, tally)
                    + score_batch(batch[half:], call, refusal, tally))
        tally("refused")
        return [PredictionResult(batch[0], {"error": reason})]
    return [PredictionResult(example, result)
            for example, result in zip(batch, results, strict=True)]


def _refused_by_server(error: Exception) -> str | None:
    """Why the server refused an input for good; None for a failure that is not the
    inputs' (an outage, an answer the server got wrong), which fails the bundle."""
    if (not isinstance(error, ClientError) or transient(error)
            or isinstance(error, MalformedResponse)):
        return None
    return refusal_reason(error)


class ServingHandler(ModelHandler):
    """Calls `endpoint` on a TF-Serving-compatible server.

    Args:
        endpoint: a `clients.scoring.scorers` endpoint (payloads, input arrays, result fields).
        server: str. HOST:PORT, several IP:PORT, or dns:///NAME:PORT.
        deadline: float. Seconds per request.
        security: ChannelSecurity. TLS and bearer token.
        retries: int. Retries of a request on a transient failure.
        backoff: tuple[float, float]. First and longest backoff, in seconds.
        batch_size: int. Inputs per request.
        concurrency: int. Requests in flight per worker thread: Beam's batches hold up
            to `concurrency` requests' worth, sent at once (RunInference itself waits
            for each batch before the next).
    """

    def __init__(self, endpoint, server: str, deadline: float, security: ChannelSecurity,
                 retries: int, backoff: tuple[float, float], batch_size: int,
                 concurrency: int = 1):
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size * concurrency)
        self.endpoint, self.server, self.deadline = endpoint, server, deadline
        self.security, self.retries, self.backoff = security, retries, backoff
        self.batch_size = batch_size

    def load_model(self) -> ServingClient:
        return ServingClient(self.server, self.deadline, security=self.security)

    def run_inference(self, batch, model: ServingClient, inference_args=None):
        batch = list(batch)
        requests = -(-len(batch) // self.batch_size)  # as even as can be
        parts = [batch[i * len(batch) // requests:(i + 1) * len(batch) // requests]
                 for i in range(requests)]
        events: list[str] = []  # counted here, in the bundle's thread
        score = partial(score_batch, call=partial(self._call, model, events.append),
                        refusal=_refused_by_server, tally=events.append)
        try:
            if len(parts) == 1:
                return score(batch)
            with ThreadPoolExecutor(len(parts)) as pool:  # a failure raises: the bundle fails
                return [result for part in pool.map(score, parts) for result in part]
        finally:
            for name in events:
                count(name)

    def _call(self, client: ServingClient, tally: Callable[[str], None],
              payloads: list) -> list[dict]:
        endpoint = self.endpoint
        for attempt in range(self.retries + 1):
            try:
                return endpoint.rows(client.call(endpoint.codec, payloads, batch_size=None))
            except ClientError as e:
                if not transient(e):
                    raise
                if attempt == self.retries:
                    raise ServerUnavailable(e, attempt + 1) from e
                tally("retries")
                time.sleep(backoff_seconds(attempt, *self.backoff))
        raise AssertionError("unreachable")


class SavedModelHandler(ModelHandler):
    """Runs `endpoint`'s signature of the SavedModel at `model_path` (a version
    folder: model_repository/classifier/3, gs://...) in the worker; an input the
    graph refuses (INVALID_ARGUMENT) gets an error row."""

    def __init__(self, endpoint, model_path: str, batch_size: int):
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
        self.endpoint, self.model_path = endpoint, model_path

    def load_model(self):
        import tensorflow as tf

        return tf.saved_model.load(self.model_path)

    def run_inference(self, batch, model, inference_args=None):
        return score_batch(list(batch), partial(self._call, model), _refused_by_graph)

    def _call(self, model, payloads: list) -> list[dict]:
        import tensorflow as tf

        function = model.signatures[self.endpoint.signature]
        inputs = {key: tf.constant(values)
                  for key, values in self.endpoint.inputs(payloads).items()}
        outputs = {key: tensor.numpy() for key, tensor in function(**inputs).items()}
        return self.endpoint.results(outputs, len(payloads))


def _refused_by_graph(error: Exception) -> str | None:
    import tensorflow as tf

    if not isinstance(error, tf.errors.InvalidArgumentError):
        return None
    # "Graph execution error: / Detected at node ... / <stack> / REASON / [[{{node ...}}]]"
    lines = [line.strip() for line in error.message.splitlines()
             if line.strip() and not line.strip().startswith(("[[", "<stack"))]
    return f"INVALID_ARGUMENT: {lines[-1] if lines else error.message}"
