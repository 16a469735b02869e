"""The transport-agnostic core: what Predict, GetModelMetadata and GetModelStatus
do, with numpy arrays in and out. The gRPC (and REST) adapters only translate."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from tensorflow_serving.apis import input_pb2

from serving.batching import Batcher, BatchingOptions
from serving.config import ModelConfig
from serving.config_rules import ConfigError, LabelError, validate_model_list
from serving.errors import FailedPrecondition, InvalidArgument, ResourceExhausted, ServingError
from serving.inference import (
    CLASSIFY_METHOD,
    classification_result,
    example_input_key,
    regression_result,
    serialized_examples,
)
from serving.metrics import ServingMetrics
from serving.repository import ModelRepository, VersionState
from serving.servable import Servable
from serving.tensor_protos import DEFAULT_MAX_REQUEST_TENSOR_BYTES

SIGNATURE_DEF_FIELD = "signature_def"
UNKNOWN_LABEL = "<unknown>"  # the metric label of names the server does not serve


@dataclass(frozen=True)
class RequestLimits:
    """What one request, and all requests to one signature, may take of the server."""

    max_request_tensor_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES
    # Requests of one model and signature admitted at once (running or queued); more
    # are RESOURCE_EXHAUSTED at once instead of queueing without bound.
    max_in_flight_per_signature: int = 256
    # A request of at most this many rows, arriving when nothing else runs, runs on the
    # event loop: handing it to a thread and back costs ~0.3 ms on a small machine.
    inline_rows: int = 1


class DataPlane:
    """Runs requests against a ModelRepository, every one along the same path:
    validate against the SignatureDef, admit (bounded per model and signature), then
    schedule (the batcher, or directly on a bounded thread pool; a lone request of a
    row or so runs in place)."""

    def __init__(self, repository: ModelRepository, max_threads: int = 8,
                 batching: BatchingOptions | None = None,
                 limits: RequestLimits = RequestLimits(),
                 model_config_list_root_dir: str | None = None):
        self.repository = repository
        self.limits = limits
        self.model_config_list_root_dir = model_config_list_root_dir
        self.metrics = ServingMetrics(repository)
        threads = max(max_threads, batching.num_batch_threads if batching else 0)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="predict"
        )
        self.batching = batching
        self._batcher: Batcher | None = None
        self._in_flight: dict[tuple[str, str], int] = {}

    @property
    def max_request_tensor_bytes(self) -> int:
        return self.limits.max_request_tensor_bytes

    async def predict(self, model: str, version: int | None, label: str | None,
                      signature: str, inputs: Mapping[str, np.ndarray],
                      output_filter: list[str] | None = None, api: str = "predict",
                      ) -> tuple[Servable, dict[str, np.ndarray]]:
        """Runs `signature` of the chosen servable; returns it with the outputs.
        Counts the request and its latency under `api` whatever the outcome."""
        started = time.monotonic()
        try:
            servable = self.repository.servable(model, version, label)
        except ServingError as e:
            self._observe(model, None, signature, api, e.code.name, started)
            raise
        return servable, await self.run(servable, signature, inputs, output_filter, api,
                                        started)

    async def run(self, servable: Servable, signature: str, inputs: Mapping[str, np.ndarray],
                  output_filter: list[str] | None = None, api: str = "predict",
                  started: float | None = None) -> dict[str, np.ndarray]:
        """Runs `signature` of a servable the caller already holds; counted like
        `predict`."""
        started = time.monotonic() if started is None else started
        status = "OK"
        try:
            signature = servable.validate(signature, inputs, output_filter)
            with self._admitted(servable.name, signature):
                return await self._schedule(servable, signature, inputs, output_filter)
        except ServingError as e:
            status = e.code.name
            raise
        finally:
            self._observe(servable.name, servable, signature, api, status, started)

    @contextlib.contextmanager
    def _admitted(self, model: str, signature: str):
        key = (model, signature)
        if self._in_flight.get(key, 0) >= self.limits.max_in_flight_per_signature:
            raise ResourceExhausted(
                f"{self._in_flight[key]} requests to {model} signature {signature!r} are "
                "already in flight; retry with backoff (limit: "
                "--max_in_flight_per_signature)")
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield
        finally:
            self._in_flight[key] -= 1

    async def _schedule(self, servable: Servable, signature: str,
                        inputs: Mapping[str, np.ndarray],
                        output_filter: list[str] | None) -> dict[str, np.ndarray]:
        if self.batching is not None:
            return await self._batcher_of_loop().submit(
                servable, signature, inputs, output_filter)
        if self._runs_inline(inputs):  # a thread hop would cost more than the call
            outputs = servable.run(signature, inputs)
        else:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._pool, servable.run, signature, inputs)
        return {key: outputs[key] for key in output_filter or outputs}

    def _runs_inline(self, inputs: Mapping[str, np.ndarray]) -> bool:
        alone = sum(self._in_flight.values()) == 1
        return alone and all(np.ndim(v) == 0 or len(v) <= self.limits.inline_rows
                             for v in inputs.values())

    def _observe(self, model: str, servable: Servable | None, signature: str, api: str,
                 status: str, started: float) -> None:
        """Counts a request under labels the server owns: a name it does not serve is
        counted as <unknown>, so callers cannot create metric series at will."""
        signature = signature or "serving_default"
        if servable is None:
            model = model if model in self.repository.model_names else UNKNOWN_LABEL
            version, signature = "", UNKNOWN_LABEL
        else:
            version = str(servable.version)
            if signature not in servable.signature_defs:
                signature = UNKNOWN_LABEL
        self.metrics.observe_request(model, version, signature, api, status,
                                     time.monotonic() - started)

    async def infer(self, method: str, model: str, version: int | None, label: str | None,
                    signature: str, request_input: input_pb2.Input):
        """Classify or Regress (`method`) on tf.Examples; returns the servable and the
        ClassificationResult or RegressionResult."""
        servable = self.repository.servable(model, version, label)
        signature = signature or "serving_default"
        key = example_input_key(servable, signature, method)
        examples = serialized_examples(request_input)
        api = "classify" if method == CLASSIFY_METHOD else "regress"
        outputs = await self.run(servable, signature, {key: examples}, api=api)
        to_result = classification_result if method == CLASSIFY_METHOD else regression_result
        return servable, to_result(outputs, len(examples))

    def _batcher_of_loop(self) -> Batcher:
        """The batcher, created on first use inside the serving event loop."""
        if self._batcher is None:
            self._batcher = Batcher(self.batching, self._pool, self.metrics.observe_batch)
            self.metrics.queue_depth.set_function(lambda: self._batcher.queue_depth)
        return self._batcher

    def metadata(self, model: str, version: int | None, label: str | None,
                 fields: list[str]) -> Servable:
        """The servable whose metadata is asked for, after checking the fields."""
        if not fields:
            raise InvalidArgument("GetModelMetadataRequest must specify at least one "
                                  f"metadata_field; the one supported is {SIGNATURE_DEF_FIELD!r}")
        unsupported = [f for f in fields if f != SIGNATURE_DEF_FIELD]
        if unsupported:
            raise InvalidArgument(f"Metadata field {unsupported[0]} is not supported; "
                                  f"the one supported is {SIGNATURE_DEF_FIELD!r}")
        return self.repository.servable(model, version, label)

    def status(self, model: str, version: int | None = None,
               label: str | None = None) -> list[VersionState]:
        """The state of each version of `model`, or of the one version or label asked."""
        if label:
            version = self.repository.servable(model, None, label).version
        return self.repository.states(model, version)

    async def reload(self, models: list[ModelConfig]) -> None:
        """Switches to a new model list and waits until it is loaded (what
        HandleReloadConfigRequest and a changed config file do)."""
        try:
            models = validate_model_list(models, self.model_config_list_root_dir)
            self.repository.set_models(models)
        except LabelError as e:
            raise FailedPrecondition(str(e)) from e
        except ConfigError as e:
            raise InvalidArgument(str(e)) from e
        await asyncio.to_thread(self.repository.poll)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
