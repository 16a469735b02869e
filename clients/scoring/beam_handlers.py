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

import asyncio
from functools import partial

from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from clients.channels import ChannelSecurity
from clients.client import ServingClient
from clients.scoring.retrying import RetryPolicy, refused_by_server, results_of

NAMESPACE = "tfstack"
Example = tuple  # (Item, payload)


def count(name: str) -> None:
    """Adds one to a counter of the bundle this thread runs (Beam keeps metrics per
    thread: an increment in a thread of our own would be lost)."""
    Metrics.counter(NAMESPACE, name).inc()


def predictions(batch: list[Example], results: list[dict]) -> list[PredictionResult]:
    """Beam's results: each example with its result fields or {"error": why}."""
    return [PredictionResult(example, result)
            for example, result in zip(batch, results, strict=True)]


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
                 retry: RetryPolicy, batch_size: int, concurrency: int = 1):
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size * concurrency)
        self.endpoint, self.server, self.deadline = endpoint, server, deadline
        self.security, self.retry, self.batch_size = security, retry, batch_size

    def load_model(self) -> ServingClient:
        return ServingClient(self.server, self.deadline, security=self.security)

    def run_inference(self, batch, model: ServingClient, inference_args=None):
        batch = list(batch)
        requests = -(-len(batch) // self.batch_size)  # as even as can be
        parts = [batch[i * len(batch) // requests:(i + 1) * len(batch) // requests]
                 for i in range(requests)]
        events: list[str] = []  # counted here, in the bundle's thread
        call = partial(self._call, model)

        async def scored() -> list[list[dict]]:  # a failure raises: the bundle fails
            return await asyncio.gather(*(
                results_of([payload for _, payload in part], call, refused_by_server,
                           self.retry, events.append) for part in parts))

        try:
            results = asyncio.run(scored())
        finally:
            for name in events:
                count(name)
        return [prediction for part, rows in zip(parts, results, strict=True)
                for prediction in predictions(part, rows)]

    async def _call(self, client: ServingClient, payloads: list) -> list[dict]:
        endpoint = self.endpoint
        return endpoint.rows(await asyncio.to_thread(client.call, endpoint.codec, payloads,
                                                     batch_size=None))


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
        batch, events = list(batch), []
        try:
            results = asyncio.run(results_of([payload for _, payload in batch],
                                             partial(self._call, model), _refused_by_graph,
                                             tally=events.append))
        finally:
            for name in events:
                count(name)
        return predictions(batch, results)

    async def _call(self, model, payloads: list) -> list[dict]:
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
