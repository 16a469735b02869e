"""Batch scoring: files in, one result row per input out, in order, exactly once.

Batches go concurrently to any TF-Serving-compatible server; transient failures
(see `clients.scoring.retrying`) are retried with exponential backoff and full jitter, and
when the retries run out the run stops with `ServerUnavailable`, every row written
so far complete and `--resume` able to continue: an outage never becomes error
rows. An answer the server gets wrong (`MalformedResponse`) and a full disk
(`OutputFailed`) stop the run the same way. A batch over the message size limit is
split in halves, and so is one that fails for good, so that only the inputs at fault
become error rows. A batch holds its slot of `concurrency` until its rows are
written, so at most that many batches are in flight or waiting, in order, to be
written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from clients.async_client import AsyncServingClient
from clients.scoring.config import ScoreConfig
from clients.scoring.files import Item, ResultWriter, read_items, result_row
from clients.scoring.retrying import ServerUnavailable, refused_by_server, results_of
from clients.scoring.scorers import SCORERS, scorer_for
from contract.tracing import tracer

__all__ = ["SCORERS", "ScoreConfig", "ScoreSummary", "ServerUnavailable", "score"]


@dataclass
class ScoreSummary:
    """What a run did: counts, throughput, request latency, and the most batches
    that were ever done but waiting for an earlier one to be written."""

    items: int = 0
    skipped: int = 0
    written: int = 0
    errors: int = 0
    retries: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    peak_buffered: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def items_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else 0.0

    def __str__(self) -> str:
        return (f"{self.written} written ({self.skipped} already done), {self.errors} errors, "
                f"{self.retries} retries, {self.items_per_second:.1f} items/s, latency p50 "
                f"{self.percentile_ms(50):.1f} ms p99 {self.percentile_ms(99):.1f} ms"
                + (" -- stopped early: too many errors" if self.stopped_early else ""))


def score(config: ScoreConfig) -> ScoreSummary:
    """Scores `config.input` into `config.output`; see `ScoreConfig`. Raises
    `ServerUnavailable` (with `.summary`) when the server stays unreachable."""
    return asyncio.run(score_async(config))


async def score_async(config: ScoreConfig) -> ScoreSummary:
    endpoint = scorer_for(config.model, config.top_k)
    column = config.column or endpoint.column
    items = read_items(config.input, config.input_format, column, config.id_column)
    writer = ResultWriter(config.output, endpoint.fields, config.output_format, config.resume)
    summary = ScoreSummary(items=len(items), skipped=len(writer.written_ids))
    _check_resumable(writer.written_ids, items)
    todo = items[summary.skipped:]
    started = time.monotonic()
    try:
        async with AsyncServingClient(config.server, config.deadline, wait_for_ready=True,
                                      security=config.security) as client:
            run = _Run(config, endpoint, client, writer, summary)
            with tqdm(total=len(items), initial=summary.skipped, unit="item",
                      disable=not config.progress, dynamic_ncols=True) as bar, \
                    _span("score", model=config.model, input=config.input,
                          items=len(todo)):
                run.bar = bar
                await run.all(todo)
    except ServerUnavailable as e:
        e.summary = summary
        raise
    finally:
        writer.close()
        summary.seconds = time.monotonic() - started
    return summary


def _check_resumable(written: list[str], items: list[Item]) -> None:
    if len(written) > len(items) or any(w != i.id for w, i in zip(written, items, strict=False)):
        raise ValueError("the output holds results for other inputs than these; "
                         "score into a new file, or run without --resume to start over")


class _Run:
    """One scoring run: schedules batches, writes their rows in input order, counts.

    Each batch takes a slot of `concurrency` when it starts and gives it back once
    its rows are written, so one stalled batch holds back at most `concurrency - 1`
    finished ones, never the whole input."""

    def __init__(self, config, endpoint, client, writer, summary):
        self.config, self.endpoint, self.client = config, endpoint, client
        self.writer, self.summary = writer, summary
        self.done: dict[int, list[dict]] = {}
        self.next_batch = 0
        self.stop = False
        self.bar = None
        self.slots = asyncio.Semaphore(config.concurrency)

    async def all(self, items: list[Item]) -> None:
        size = self.config.batch_size
        tasks = []
        try:
            for number, start in enumerate(range(0, len(items), size)):
                await self.slots.acquire()
                if self.stop:
                    break
                tasks.append(asyncio.create_task(self._batch(number, items[start:start + size])))
            await asyncio.gather(*tasks)
        finally:  # after a failure: the others stop, what is written stands
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _batch(self, number: int, batch: list[Item]) -> None:
        """Scores a batch, then writes every batch ready in order; any failure (an
        outage, a full disk) stops the run and gives a slot back, so that the scheduler
        waiting for one wakes up to stop."""
        try:
            with _span("score batch", batch=number, items=len(batch)):
                self.done[number] = await self._rows(batch)
            self._write_ready()
        except BaseException:
            self.stop = True
            self.slots.release()  # wakes the scheduler, which then stops
            raise

    def _write_ready(self) -> None:
        """Writes the rows of each finished batch whose turn it is, freeing its slot."""
        self.summary.peak_buffered = max(self.summary.peak_buffered, len(self.done))
        while self.next_batch in self.done:
            rows = self.done.pop(self.next_batch)
            self.writer.write(rows)
            self.next_batch += 1
            self.slots.release()  # that batch's slot: its rows are written
            self.summary.written += len(rows)
            self.summary.errors += sum("error" in row for row in rows)
            self.bar.update(len(rows))
            limit = self.config.max_errors
            if limit is not None and self.summary.errors > limit:
                self.stop = self.summary.stopped_early = True

    async def _rows(self, batch: list[Item]) -> list[dict]:
        """Result rows for a batch; unreadable inputs and bad items become error rows."""
        rows: dict[int, dict] = {}
        payloads = []
        for item, payload in await asyncio.to_thread(self._read, batch):
            if isinstance(payload, Exception):
                rows[item.index] = result_row(item, error=f"UNREADABLE: {payload}")
            else:
                payloads.append((item, payload))
        for item, result in await self._send(payloads):
            rows[item.index] = result
        return [rows[item.index] for item in batch]

    def _read(self, batch: list[Item]) -> list[tuple[Item, object]]:
        read = []
        for item in batch:
            try:
                read.append((item, self.endpoint.payload(item)))
            except (OSError, ValueError) as e:
                read.append((item, e))
        return read

    async def _send(self, payloads: list[tuple[Item, object]]) -> list[tuple[Item, dict]]:
        """Rows for `payloads`, by `clients.scoring.retrying`'s one policy."""
        results = await results_of([p for _, p in payloads], self._call, refused_by_server,
                                   self.config.retry_policy, self._tally)
        return [(item, result_row(item, **result))
                for (item, _), result in zip(payloads, results, strict=True)]

    async def _call(self, payloads: list) -> list[dict]:
        started = time.monotonic()
        results = await self.client.call(self.endpoint.codec, payloads, batch_size=None)
        self.summary.latencies.append(time.monotonic() - started)
        return self.endpoint.rows(results)

    def _tally(self, name: str) -> None:
        if name == "retries":
            self.summary.retries += 1


def _span(name: str, **attributes):
    """A span of the run (each batch's under it, and the server's under those), when
    tracing is on (OTEL_TRACES_EXPORTER); nothing otherwise."""
    spans = tracer("tfstack.score")
    if spans is None:
        return contextlib.nullcontext()
    return spans.start_as_current_span(
        name, attributes={f"tfstack.{key}": value for key, value in attributes.items()})
