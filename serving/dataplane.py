"""The transport-agnostic core: what Predict, GetModelMetadata and GetModelStatus
do, with numpy arrays in and out. The gRPC (and REST) adapters only translate."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
from tensorflow_serving.apis import input_pb2

from contract.tracing import recording_span
from serving import access_log
from serving.batching import Batcher, BatchingOptions, batch_rows
from serving.classification import classify, outputs_to_fetch
from serving.config import ModelConfig
from serving.config_rules import validate_model_list
from serving.deadlines import DEADLINE, timeout_ms
from serving.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    ServingError,
)
from serving.fairness import CALLER, FairShare
from serving.inference import (
    CLASSIFY_METHOD,
    classification_result,
    example_count,
    example_input_key,
    regression_result,
    serialized_examples,
)
from serving.metrics import ServingMetrics
from serving.repository import ModelRepository, VersionState
from serving.request_logging import LogLimits, RequestLogger
from serving.servable import DEFAULT_SIGNATURE, Servable
from serving.signature_checks import check_rows
from serving.tensor_protos import (
    DEFAULT_MAX_REQUEST_FILL_BYTES,
    DEFAULT_MAX_REQUEST_TENSOR_BYTES,
    to_arrays,
)

SIGNATURE_DEF_FIELD = "signature_def"
UNKNOWN_LABEL = "<unknown>"  # the metric label of names the server does not serve


@dataclass(frozen=True)
class RequestLimits:
    """What one request, and all requests to one signature, may take of the server."""

    max_request_tensor_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES
    # Requests of one model and signature admitted at once (running, queued, or left
    # running by a caller who gave up); more are RESOURCE_EXHAUSTED at once.
    max_in_flight_per_signature: int = 256
    # What filling declared shapes from fewer values may add to one request.
    max_request_fill_bytes: int = DEFAULT_MAX_REQUEST_FILL_BYTES
    # Rows (the first, open dimension) one request may carry; 0: no limit. With
    # batching, max_batch_size applies too.
    max_request_rows: int = 1000
    # A request of at most this many input bytes, arriving when nothing else runs, to a
    # signature whose every run so far took under `inline_seconds`, runs on the event
    # loop: handing it to a thread and back costs ~0.3 ms on a small machine. Messages
    # above `inline_bytes` are decoded off the loop too.
    inline_bytes: int = 16 * 1024
    inline_seconds: float = 0.01
    # An inline run still going after this is stopped and run again on a graph thread,
    # so no request holds the loop (signals, health, other calls) for longer.
    inline_max_seconds: float = 0.1
    # Graph threads one caller (a connection) may use while others wait; 0: half.
    threads_per_caller: int = 0


_UNDECODED = np.empty(0, np.float32)  # stands for an input the signature does not take


@dataclass
class Request:
    """One inference request, as every adapter (TF Serving gRPC and REST, Open
    Inference Protocol gRPC and REST) hands it to the data plane: what to run, and how
    to read its inputs once the servable and signature are known (TF Serving finds
    them before parsing a tensor, and REST reads JSON by the signature's dtypes)."""

    model: str
    version: int | None
    label: str | None
    signature: str  # "" for the default, resolved here only
    # (servable, signature key, SignatureDef) -> the named input arrays
    read_inputs: Callable[[Servable, str, object], Mapping[str, np.ndarray]]
    size: int = 0  # bytes of the request, to decide whether to decode off the loop
    output_filter: list[str] = field(default_factory=list)
    api: str = "predict"  # the metric label: predict, classify or regress
    # OIP's classification extension: output name -> how many top classes to return
    classification: dict[str, int] = field(default_factory=dict)


@dataclass
class Answer:
    """What the data plane gives back: the servable and signature that answered, and
    the outputs asked for."""

    servable: Servable
    signature: str
    outputs: dict[str, np.ndarray]


class _Slot:
    """One admitted request's place in its signature's admission count. Freed when the
    request ends, unless work it leaves behind (a graph already running, a queued
    batch task) keeps it until that work ends."""

    def __init__(self, release: Callable[[], None]):
        self._release = release
        self.kept = False
        self._freed = False

    def keep(self) -> Callable[[], None]:
        """Keeps the slot past the request; returns the callback that frees it."""
        self.kept = True
        return self.free

    def free(self) -> None:
        if not self._freed:
            self._freed = True
            self._release()


class DataPlane:
    """Runs requests against a ModelRepository, every one along the same path:
    validate against the SignatureDef, admit (bounded per model and signature), then
    schedule (the batcher, or directly on a bounded thread pool; a lone request of a
    row or so runs in place)."""

    def __init__(self, repository: ModelRepository, max_threads: int = 8,
                 batching: BatchingOptions | None = None,
                 limits: RequestLimits = RequestLimits(),
                 model_config_list_root_dir: str | None = None,
                 check_method_names: bool = False, log_limits: LogLimits | None = None):
        self.repository = repository
        self.check_method_names = check_method_names  # --enable_signature_method_name_check
        self.limits = limits
        self.model_config_list_root_dir = model_config_list_root_dir
        self.metrics = ServingMetrics(repository)
        self.request_log = RequestLogger(log_limits or LogLimits(), self.metrics.count_request_log)
        threads = max(max_threads, batching.num_batch_threads if batching else 0)
        self._fair = FairShare(threads, min(limits.threads_per_caller or max(1, threads // 2),
                                            threads))
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="predict"
        )
        self.batching = batching
        self._batcher: Batcher | None = None
        self._in_flight: dict[tuple[str, str], int] = {}
        # Each signature's slowest run, decaying by a tenth a run: one slow run keeps it
        # off the loop for a while (about 44 runs after a second), not for ever.
        self._slowest: dict[tuple[str, int, str], float] = {}
        self._warm: set[tuple[str, int, str]] = set()
        self.metrics.in_flight.set_function(lambda: sum(self._in_flight.values()))

    @property
    def max_request_tensor_bytes(self) -> int:
        return self.limits.max_request_tensor_bytes

    def _decode(self, protos: Mapping, names: set[str] | None) -> dict[str, np.ndarray]:
        unknown = {key: _UNDECODED for key in protos if names is not None and key not in names}
        known = {key: proto for key, proto in protos.items() if key not in unknown}
        return {**to_arrays(known, self.limits.max_request_tensor_bytes,
                            self.limits.max_request_fill_bytes), **unknown}

    async def _off_loop_if_large(self, message_bytes: int, fn, *args):
        """`fn(*args)` in place for a small message, else on a worker thread."""
        if message_bytes <= self.limits.inline_bytes:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    async def infer(self, request: Request) -> Answer:
        """The one request path: look the servable and signature up, read the inputs,
        check them against the SignatureDef, admit, schedule, and count the request
        under its labels whatever the outcome."""
        started = time.monotonic()
        signature = request.signature or DEFAULT_SIGNATURE
        servable, status = None, "OK"
        try:
            servable = self.repository.servable(request.model, request.version,
                                                request.label)
            signature_def = _signature(servable, signature, request.api)
            inputs = await self._off_loop_if_large(
                request.size, request.read_inputs, servable, signature, signature_def)
            _event("inputs decoded")
            fetch = outputs_to_fetch(request.output_filter, request.classification,
                                     signature_def.outputs)
            outputs = await self._run(servable, signature, inputs, fetch)
            if request.classification:
                outputs = classify(outputs, request.classification, request.output_filter)
            return Answer(servable, signature, outputs)
        except ServingError as e:
            status = e.code.name
            raise
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        finally:
            self._observe(request.model, servable, signature, request.api, status, started)

    def tensor_reader(self, protos: Mapping):
        """`Request.read_inputs` for TensorProtos: each sized before it is built, and an
        input the signature does not take left undecoded (validation refuses it by
        name), as TF Serving checks an alias before parsing its tensor
        (servables/tensorflow/predict_util.cc)."""

        def read(servable: Servable, signature: str, _) -> dict[str, np.ndarray]:
            return self._decode(protos, servable.input_names(signature))

        return read

    async def _run(self, servable: Servable, signature: str, inputs: Mapping[str, np.ndarray],
                   output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        """Checks, admits and schedules a request whose inputs have been read."""
        servable.validate(signature, inputs, output_filter)
        check_rows(servable.signature(signature), inputs, self.limits.max_request_rows)
        slot = self._admit(servable.name, signature)
        _event("validated and admitted")
        try:
            return await self._schedule(servable, signature, inputs, output_filter, slot)
        finally:
            if not slot.kept:
                slot.free()

    def _admit(self, model: str, signature: str) -> _Slot:
        key = (model, signature)
        if self._in_flight.get(key, 0) >= self.limits.max_in_flight_per_signature:
            raise ResourceExhausted(
                f"{self._in_flight[key]} requests to {model} signature {signature!r} are "
                "already in flight; retry with backoff (limit: "
                "--max_in_flight_per_signature)")
        self._in_flight[key] = self._in_flight.get(key, 0) + 1

        def release() -> None:
            self._in_flight[key] -= 1

        return _Slot(release)

    async def _schedule(self, servable: Servable, signature: str,
                        inputs: Mapping[str, np.ndarray], output_filter: list[str] | None,
                        slot: _Slot) -> dict[str, np.ndarray]:
        deadline = DEADLINE.get()
        if self.batching is not None:
            return await self._batcher_of_loop().submit(
                servable, signature, inputs, output_filter, slot.keep, deadline)
        key = (servable.name, servable.version, signature)
        outputs = output_filter or ()
        started = time.monotonic()
        record = access_log.current()
        if record is not None:
            record.batch_size = batch_rows(inputs)  # a batch of its own
        result = None
        if self._runs_inline(key, inputs):  # a thread hop would cost more than the call
            result = self._run_inline(key, servable, signature, inputs, outputs, deadline)
        span = recording_span("tfstack.serving")
        if result is None:
            def job() -> dict[str, np.ndarray]:
                if record is not None:  # the wait for a graph thread
                    record.queue_seconds = time.monotonic() - started
                if span is not None:
                    span.add_event("graph run started")
                return servable.run(signature, inputs, outputs, timeout_ms(deadline))

            result = await self._in_pool(slot, job)  # timed from its start
        if key in self._warm:  # a first run traces and warms up: not timed
            self._slowest[key] = max(time.monotonic() - started,
                                     0.9 * self._slowest.get(key, 0.0))
        self._warm.add(key)
        return result

    def _run_inline(self, key: tuple[str, int, str], servable: Servable, signature: str,
                    inputs: Mapping[str, np.ndarray], outputs: Collection[str],
                    deadline: float | None) -> dict[str, np.ndarray] | None:
        """Runs on the event loop for at most `inline_max_seconds`; None when the run
        was stopped there (it is not cheap after all: the caller runs it again on a
        graph thread, and the signature stays off the loop for a while). A graph with
        side effects (a counter variable, a file written) may then have them twice."""
        cap = time.monotonic() + self.limits.inline_max_seconds
        try:
            return servable.run(signature, inputs, outputs,
                                timeout_ms(cap if deadline is None else min(cap, deadline)))
        except DeadlineExceeded:
            if deadline is not None and deadline <= cap:
                raise
            self._slowest[key] = self.limits.inline_max_seconds
            return None

    async def _in_pool(self, slot: _Slot, job: Callable[[], dict[str, np.ndarray]]):
        """`job()` on the graph threads, in the caller's turn (a share of the threads
        per connection, in arrival order). A caller who gives up before it starts drops
        it; once started it runs to its end or the request's deadline, keeping the
        caller's admission slot and turn until then."""
        end_turn = await self._fair.acquire(CALLER.get())
        future = None
        try:
            future = self._pool.submit(job)
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future is not None and not future.cancel():  # running: let it end
                loop, ended = asyncio.get_running_loop(), end_turn
                future.add_done_callback(_on_loop(loop, ended))  # its turn and slot end
                future.add_done_callback(_on_loop(loop, slot.keep()))  # with it
                end_turn = None
            raise
        finally:
            if end_turn is not None:
                end_turn()

    def _runs_inline(self, key: tuple[str, int, str], inputs: Mapping[str, np.ndarray]) -> bool:
        """Whether a request is cheap for sure: alone, small, and to a signature not
        seen slow lately (its first runs are on a thread, so a slow one is seen)."""
        alone = sum(self._in_flight.values()) == 1
        return (alone and self._slowest.get(key, math.inf) < self.limits.inline_seconds
                and _input_bytes(inputs) <= self.limits.inline_bytes)

    def _observe(self, model: str, servable: Servable | None, signature: str, api: str,
                 status: str, started: float) -> None:
        """Counts a request under labels the server owns: a name it does not serve is
        counted as <unknown>, so callers cannot create metric series at will."""
        if servable is None:
            model = model if model in self.repository.model_names else UNKNOWN_LABEL
            version, signature = "", UNKNOWN_LABEL
        else:
            version = str(servable.version)
            if signature not in servable.signature_keys:
                signature = UNKNOWN_LABEL
        self.metrics.observe_request(model, version, signature, api, status,
                                     time.monotonic() - started)
        record = access_log.current()
        if record is not None:  # the server's own labels: a client cannot forge a line
            record.model, record.version, record.signature = model, version, signature

    async def classify_or_regress(self, method: str, model: str, version: int | None,
                                  label: str | None, signature: str,
                                  request_input: input_pb2.Input):
        """Classify or Regress (`method`) on tf.Examples, along the one request path;
        returns the Answer and the ClassificationResult or RegressionResult."""

        def read(servable: Servable, signature: str, _) -> dict[str, np.ndarray]:
            key = example_input_key(servable, signature, method, self.check_method_names)
            return {key: serialized_examples(request_input, self.limits.max_request_tensor_bytes,
                                             self.limits.max_request_rows)}

        api = "classify" if method == CLASSIFY_METHOD else "regress"
        answer = await self.infer(Request(model, version, label, signature, read,
                                          request_input.ByteSize(), api=api))
        to_result = classification_result if method == CLASSIFY_METHOD else regression_result
        return answer, to_result(answer.outputs, example_count(request_input))

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

    def ready(self, model: str | None = None, version: int | None = None,
              label: str | None = None) -> bool:
        """Whether a model (a version or label of it) can answer now; with no model,
        whether every configured model can (the Open Inference Protocol's readiness)."""
        if model is None:
            return all(self.ready(name) for name in self.repository.model_names)
        try:
            self.repository.servable(model, version, label)
        except ServingError:
            return False
        return True

    def status(self, model: str, version: int | None = None,
               label: str | None = None) -> list[VersionState]:
        """The state of each version of `model`, or of the one version or label asked."""
        if label:
            version = self.repository.servable(model, None, label).version
        return self.repository.states(model, version)

    async def reload(self, models: list[ModelConfig]) -> None:
        """Switches to a new model list and waits until it is loaded (what
        HandleReloadConfigRequest and a changed config file do)."""
        models = validate_model_list(models, self.model_config_list_root_dir)
        self.request_log.check(models)
        self.repository.set_models(models)  # ConfigError: the status TF Serving answers
        self.request_log.update(models)
        await self.repository.poll_off_loop()

    def log_request(self, answer: Answer, kind: str, build: Callable[[], object],
                    size: Callable[[], int]) -> None:
        """Samples an answered request into its model's request log, if it has one
        (`kind`: the PredictionLog field; `build()` makes that message, off the event
        loop; `size()`: about the bytes of request and answer)."""
        self.request_log.log(answer.servable.name, answer.servable.version, answer.signature,
                             self.repository.tags, kind, build, size)

    def close(self) -> None:
        """Ends the work left after the grace period: queued runs are dropped and
        running ones cancelled (their sessions close), so the process can exit now."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.repository.close()
        self.request_log.close()


def _signature(servable: Servable, key: str, api: str):
    """The SignatureDef a request names; a missing one is FAILED_PRECONDITION for
    Predict (predict_util.cc) and INVALID_ARGUMENT for Classify and Regress
    (classifier.cc, regressor.cc)."""
    try:
        return servable.signature(key)
    except FailedPrecondition as e:
        if api == "predict":
            raise
        raise InvalidArgument(f"No signature was found with the name: {key!r} (model "
                              f"{servable.name} version {servable.version})") from e


def _input_bytes(inputs: Mapping[str, np.ndarray]) -> int:
    """What a request's arrays hold: numbers by their size, strings by their length."""
    return sum(sum(len(v) if isinstance(v, bytes) else 8 for v in value.flat)
               if value.dtype == object else value.nbytes
               for value in map(np.asarray, inputs.values()))


def _on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]):
    """A future's done callback that runs `callback` on `loop`, if it still runs."""

    def done(_future) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    return done


def _event(name: str) -> None:
    span = recording_span("tfstack.serving")
    if span is not None:
        span.add_event(name)
