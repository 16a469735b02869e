"""Server-side dynamic batching, configured by TF Serving's batching parameters file.

Concurrent requests for the same servable and signature join an open batch until it
is full or a batch thread is free after `batch_timeout_micros`; the batch runs once
(padded to an allowed size if configured) and each caller gets exactly its rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from opentelemetry import trace

from contract.tracing import tracer
from serving import access_log
from serving.access_log import RequestRecord
from serving.config_protos import BatchingParameters, read_text_proto
from serving.deadlines import latest, timeout_ms
from serving.errors import Internal, InvalidArgument, ResourceExhausted, ServingError
from serving.servable import Servable


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters, with its defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self):
        sizes = self.allowed_batch_sizes
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise ValueError(f"allowed_batch_sizes {list(sizes)} must increase and end with "
                             f"max_batch_size ({self.max_batch_size})")
        if self.max_batch_size < 1 or self.num_batch_threads < 1:
            raise ValueError("max_batch_size and num_batch_threads must be at least 1")

    @classmethod
    def from_file(cls, path: str | Path) -> "BatchingOptions":
        """Reads a BatchingParameters text proto; absent fields keep the defaults."""
        proto = read_text_proto(path, BatchingParameters)
        values = {name: getattr(proto, name).value for name in (
            "max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
            "num_batch_threads") if proto.HasField(name)}
        return cls(**values, allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
                   pad_variable_length_inputs=proto.pad_variable_length_inputs)

    def padded_size(self, rows: int) -> int:
        return next((size for size in self.allowed_batch_sizes if size >= rows), rows)


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    output_filter: list[str]
    future: asyncio.Future
    deadline: float | None = None  # time.monotonic() by which its caller needs it
    record: RequestRecord | None = None  # its caller's access-log record
    span: object = None  # its caller's span context, when tracing is on
    queued: float = field(default_factory=time.monotonic)
    # Set once the caller gave up: what the batcher calls when it is done with the task
    # (dropped before running, or run), so the caller's admission lasts until then.
    release: Callable[[], None] | None = None

    @property
    def abandoned(self) -> bool:
        return self.future.cancelled()


@dataclass
class _Batch:
    servable: Servable
    signature: str
    tasks: list[_Task] = field(default_factory=list)
    rows: int = 0
    started: bool = False
    dropped: bool = False  # every caller gave up before it started


class Batcher:
    """Merges concurrent Predict calls along dimension 0 and runs them on
    `num_batch_threads` threads of `executor`."""

    def __init__(self, options: BatchingOptions, executor,
                 observe: Callable[[Servable, str, int], None] | None = None):
        self.options = options
        self._executor = executor
        self._threads = asyncio.Semaphore(options.num_batch_threads)
        self._open: dict[tuple[int, str], _Batch] = {}
        self._waiting: dict[tuple[int, str], int] = {}  # per queue: formed, not running
        self._observe = observe

    @property
    def queue_depth(self) -> int:
        return sum(self._waiting.values())

    async def submit(self, servable: Servable, signature: str, inputs: Mapping[str, np.ndarray],
                     output_filter: list[str] | None = None,
                     keep: Callable[[], Callable[[], None]] | None = None,
                     deadline: float | None = None) -> dict[str, np.ndarray]:
        """Runs a validated request as part of a batch; returns its own outputs. A
        caller who gives up while it waits is dropped from its batch (a batch with no
        callers left does not run and leaves the queue); `keep` is then called for the
        callback the batcher calls once it is done with the task. A batch runs until
        the latest deadline of its callers."""
        rows = batch_rows(inputs)
        if rows > self.options.max_batch_size:
            raise InvalidArgument(
                f"Task size {rows} is larger than maximum batch size "
                f"{self.options.max_batch_size}; send at most that many rows per request")
        task = _Task(inputs, rows, list(output_filter or []),
                     asyncio.get_running_loop().create_future(), deadline,
                     access_log.current(), _span_context())
        key, batch = self._enqueue(servable, signature, task)
        try:
            return await task.future
        except asyncio.CancelledError:
            task.release = keep() if keep else None
            self._drop_if_abandoned(key, batch)
            raise

    def _enqueue(self, servable: Servable, signature: str, task: _Task,
                 ) -> tuple[tuple[int, str], _Batch]:
        """Adds the task to its queue's open batch, or opens one; each (servable,
        signature) queue holds at most max_enqueued_batches, as in TF Serving."""
        key = (id(servable), signature)
        batch = self._open.get(key)
        if batch is None or not self._fits(batch, task):
            waiting = self._waiting.get(key, 0)
            if waiting >= self.options.max_enqueued_batches:
                raise ResourceExhausted(
                    "The batch scheduling queue to which this task was submitted is full "
                    f"({waiting} batches of {servable.name} signature {signature!r} "
                    "waiting); retry with backoff, or raise max_enqueued_batches / "
                    "num_batch_threads")
            batch = _Batch(servable, signature)
            self._waiting[key] = waiting + 1
            self._open[key] = batch
            asyncio.get_running_loop().create_task(self._run(key, batch))
        batch.tasks.append(task)
        batch.rows += task.rows
        if batch.rows >= self.options.max_batch_size:
            self._open.pop(key, None)
        return key, batch

    def _drop_if_abandoned(self, key: tuple[int, str], batch: _Batch) -> None:
        """Takes a batch out of its queue, unrun, once every caller in it gave up; one
        already running runs to its end or its deadline."""
        if batch.dropped or batch.started or not all(t.abandoned for t in batch.tasks):
            return
        batch.dropped = True
        self._waiting[key] -= 1
        if self._open.get(key) is batch:
            del self._open[key]
        _finish(batch.tasks)

    def _fits(self, batch: _Batch, task: _Task) -> bool:
        if batch.rows + task.rows > self.options.max_batch_size:
            return False
        first = batch.tasks[0].inputs
        if any(first[k].dtype != v.dtype for k, v in task.inputs.items()):
            return False
        return self.options.pad_variable_length_inputs or all(
            first[k].shape[1:] == v.shape[1:] for k, v in task.inputs.items())

    async def _run(self, key: tuple[int, str], batch: _Batch) -> None:
        await asyncio.sleep(self.options.batch_timeout_micros / 1e6)
        async with self._threads:
            if batch.dropped:
                return
            batch.started = True
            if self._open.get(key) is batch:
                del self._open[key]  # no more joiners
            self._waiting[key] -= 1
            live = [task for task in batch.tasks if not task.abandoned]
            _finish([task for task in batch.tasks if task.abandoned])
            try:
                if live:
                    await self._run_tasks(batch, live)
            finally:
                _finish(live)  # those whose callers gave up while it ran

    async def _run_tasks(self, batch: _Batch, tasks: list[_Task]) -> None:
        """Runs `tasks` as one batch and settles every future, whatever happens; when
        the batch fails on a bad input, each half runs again, so a bad request fails
        alone in log2(tasks) reruns instead of one rerun per batch-mate."""
        part = _Batch(batch.servable, batch.signature, tasks, sum(t.rows for t in tasks))
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._execute, part)
        except InvalidArgument as e:
            if len(tasks) == 1:
                _settle(tasks[0], error=e)
                return
            middle = len(tasks) // 2
            await self._run_tasks(batch, tasks[:middle])
            await self._run_tasks(batch, tasks[middle:])
            return
        except ServingError as e:
            for task in tasks:
                _settle(task, error=e)
            return
        except BaseException as e:  # noqa: BLE001 - every caller must get an answer
            for task in tasks:
                _settle(task, error=Internal(f"batch failed: {type(e).__name__}: {e}"))
            if not isinstance(e, Exception):
                raise
            return
        _deliver(part, outputs)

    def _execute(self, batch: _Batch) -> list[dict[str, np.ndarray]]:
        merged = {key: _merge([t.inputs[key] for t in batch.tasks],
                              self.options.pad_variable_length_inputs)
                  for key in batch.tasks[0].inputs}
        size = self.options.padded_size(batch.rows)
        if size > batch.rows:
            merged = {k: np.concatenate([v, np.repeat(v[-1:], size - batch.rows, axis=0)])
                      for k, v in merged.items()}
        if self._observe:
            self._observe(batch.servable, batch.signature, size)
        started = time.monotonic()
        for task in batch.tasks:
            if task.record is not None:
                task.record.batch_size = size
                task.record.queue_seconds = started - task.queued
        with _batch_span(batch, size):
            outputs = batch.servable.run(batch.signature, merged, timeout_ms=timeout_ms(
                latest([task.deadline for task in batch.tasks])))
        for name, value in outputs.items():
            if np.ndim(value) == 0 or len(value) != size:
                raise Internal(f"output {name!r} of signature {batch.signature!r} is not "
                               f"batch-major (shape {np.shape(value)} for a batch of {size}); "
                               "serve this model without --enable_batching")
        offsets = np.cumsum([0] + [t.rows for t in batch.tasks])
        return [{k: v[offsets[i]:offsets[i + 1]] for k, v in outputs.items()}
                for i in range(len(batch.tasks))]


def batch_rows(inputs: Mapping[str, np.ndarray]) -> int:
    """The rows a request adds to a batch: the size of its inputs' shared first
    dimension. InvalidArgument, as TF Serving's batching refuses them
    (batching/batching_util.h), for no inputs, a scalar, or unequal first dimensions."""
    if not inputs:
        raise InvalidArgument("Batching Run() must have at least one input tensor")
    if any(np.ndim(v) == 0 for v in inputs.values()):
        raise InvalidArgument("Batching Run() input tensors must have at least one "
                              "dimension")
    sizes = {np.shape(v)[0] for v in inputs.values()}
    if len(sizes) > 1:
        raise InvalidArgument("Batching Run() input tensors must have equal "
                              "0th-dimension size")
    return sizes.pop()


def _merge(arrays: list[np.ndarray], pad: bool) -> np.ndarray:
    if pad and len({a.shape[1:] for a in arrays}) > 1:
        target = np.max([a.shape for a in arrays], axis=0)[1:]
        fill = b"" if arrays[0].dtype == object else 0
        arrays = [np.pad(a, [(0, 0)] + [(0, t - s) for s, t in zip(a.shape[1:], target,
                                                                  strict=True)],
                         constant_values=fill) for a in arrays]
    return np.concatenate(arrays, axis=0)


def _deliver(batch: _Batch, outputs: list[dict[str, np.ndarray]]) -> None:
    for task, result in zip(batch.tasks, outputs, strict=True):
        _settle(task, result)


def _finish(tasks: list[_Task]) -> None:
    """Frees the admission of each task whose caller gave up, now it will not run
    (again)."""
    for task in tasks:
        if task.release is not None:
            task.release, release = None, task.release
            release()


def _settle(task: _Task, outputs: dict | None = None, error: Exception | None = None) -> None:
    if task.future.done():  # the caller gave up (deadline, cancellation)
        return
    if error is not None:
        task.future.set_exception(error)
    else:
        task.future.set_result({k: outputs[k] for k in task.output_filter or outputs})


def _span_context():
    """The caller's span context, for the batch's span to link to; None when tracing is
    off or the caller's trace was not sampled."""
    if tracer("tfstack.serving") is None:
        return None
    context = trace.get_current_span().get_span_context()
    return context if context.trace_flags.sampled else None


def _batch_span(batch: _Batch, size: int):
    """A span for one batch run, linked to the span of every request it carries (a
    batch has many parents, so links, not a parent); nothing when tracing is off."""
    links = [trace.Link(task.span) for task in batch.tasks if task.span is not None]
    spans = tracer("tfstack.serving")
    if spans is None or not links:  # off, or no request of the batch sampled
        return contextlib.nullcontext()
    return spans.start_as_current_span(
        "batch", links=links, attributes={
            "tfstack.model": batch.servable.name, "tfstack.version": batch.servable.version,
            "tfstack.signature": batch.signature, "tfstack.batch_size": size,
            "tfstack.requests": len(batch.tasks)})
