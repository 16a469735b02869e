"""Batch scoring: files in, one result row per input out, in order, exactly once.

Batches go concurrently to any TF-Serving-compatible server; transient failures
(UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, and CANCELLED, which gRPC
reports for a call caught in a server's shutdown) are retried with exponential
backoff and full jitter; a batch that fails for good is split so that only the bad
inputs become error rows.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from tqdm import tqdm

from clients import messages
from clients.async_client import AsyncServingClient
from clients.channels import ChannelSecurity
from clients.errors import ClientError
from clients.score_io import Item, ResultWriter, read_items

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED)


class ClassifierEndpoint:
    """Items are image files; results are the top-k labels."""

    model = "classifier"
    fields = ("labels", "scores", "class_ids")
    column = None

    def __init__(self, top_k: int = 5):
        self.top_k = top_k

    def payload(self, item: Item) -> bytes:
        data = Path(item.value).read_bytes()
        if not data:
            raise ValueError(f"{item.value} is empty")
        return data

    async def call(self, client: AsyncServingClient, payloads: list[bytes]) -> list[dict]:
        results = await client.classify(payloads, self.top_k, model=self.model)
        return [{"labels": [x.name for x in r.labels], "scores": [x.score for x in r.labels],
                 "class_ids": [x.class_id for x in r.labels]} for r in results]


class QAEndpoint:
    """Items are JSONL/CSV records with `story` (text, or a list of facts) and
    `question` fields; results are the answer and the facts the model attended to."""

    model = "qa"
    fields = ("answer", "probability", "supporting")
    column = "question"

    def __init__(self, top_k: int = 2):
        self.top_k = top_k

    def payload(self, item: Item) -> tuple[str, str]:
        missing = [name for name in ("story", "question") if name not in item.fields]
        if missing:
            raise ValueError(f"record has no {' or '.join(missing)} field")
        story = item.fields["story"]
        return ("\n".join(story) if isinstance(story, list) else str(story),
                str(item.fields["question"]))

    async def call(self, client: AsyncServingClient, payloads: list[tuple[str, str]]
                   ) -> list[dict]:
        request = messages.qa_request([s for s, _ in payloads], [q for _, q in payloads],
                                      self.model)
        outputs = messages.predict_outputs(await client.call_predict(request))
        return [{"answer": a.answer, "probability": a.probability,
                 "supporting": [fact for fact, _ in a.supporting(self.top_k)]}
                for a in messages.answers(outputs)]


class TranslatorEndpoint:
    """Items are sentences (text lines, or a JSONL/CSV column); results are the
    beam-search translation and its score (the attention matrix is left out: it is
    large, and `tfstack translate --json` gives it for a sentence)."""

    model = "translator"
    fields = ("translation", "score")
    column = None

    def __init__(self, top_k: int = 1):
        self.top_k = top_k  # unused: one translation per sentence

    def payload(self, item: Item) -> str:
        return item.value

    async def call(self, client: AsyncServingClient, payloads: list[str]) -> list[dict]:
        results = await client.translate(payloads, model=self.model)
        return [{"translation": r.translation, "score": r.score} for r in results]


ENDPOINTS = {"classifier": ClassifierEndpoint, "qa": QAEndpoint,
             "translator": TranslatorEndpoint}


@dataclass(frozen=True)
class ScoreConfig:
    """A scoring run; the same settings as `tfstack score`'s flags (`security`: TLS
    and bearer token, from `--tls-ca`, `--tls-cert`, `--tls-key`, `--token-file`...)."""

    model: str
    input: str
    output: str
    server: str = "127.0.0.1:8500"
    input_format: str | None = None
    output_format: str | None = None
    column: str | None = None
    id_column: str = "id"
    batch_size: int = 32
    concurrency: int = 4
    deadline: float = 30.0
    retries: int = 8
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    max_errors: int | None = None
    resume: bool = False
    top_k: int = 5
    progress: bool = True
    security: ChannelSecurity = ChannelSecurity()


@dataclass
class ScoreSummary:
    """What a run did: counts, throughput and request latency."""

    items: int = 0
    skipped: int = 0
    written: int = 0
    errors: int = 0
    retries: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
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
    """Scores `config.input` into `config.output`; see `ScoreConfig`."""
    return asyncio.run(score_async(config))


async def score_async(config: ScoreConfig) -> ScoreSummary:
    if config.model not in ENDPOINTS:
        raise ValueError(f"no scorer for model {config.model!r}; known: {sorted(ENDPOINTS)}")
    endpoint = ENDPOINTS[config.model](top_k=config.top_k)
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
                      disable=not config.progress, dynamic_ncols=True) as bar:
                run.bar = bar
                await run.all(todo)
    finally:
        writer.close()
        summary.seconds = time.monotonic() - started
    return summary


def _check_resumable(written: list[str], items: list[Item]) -> None:
    if len(written) > len(items) or any(w != i.id for w, i in zip(written, items, strict=False)):
        raise ValueError("the output holds results for other inputs than these; "
                         "score into a new file, or run without --resume to start over")


class _Run:
    """One scoring run: schedules batches, keeps rows in input order, counts."""

    def __init__(self, config, endpoint, client, writer, summary):
        self.config, self.endpoint, self.client = config, endpoint, client
        self.writer, self.summary = writer, summary
        self.done: dict[int, list[dict]] = {}
        self.next_batch = 0
        self.stop = False
        self.bar = None

    async def all(self, items: list[Item]) -> None:
        size = self.config.batch_size
        slots = asyncio.Semaphore(self.config.concurrency)
        tasks = []
        for number, start in enumerate(range(0, len(items), size)):
            await slots.acquire()
            if self.stop:
                slots.release()
                break
            tasks.append(asyncio.create_task(
                self._batch(number, items[start:start + size], slots)))
        await asyncio.gather(*tasks)

    async def _batch(self, number: int, batch: list[Item], slots: asyncio.Semaphore) -> None:
        try:
            self.done[number] = await self._rows(batch)
        finally:
            slots.release()
        while self.next_batch in self.done:
            rows = self.done.pop(self.next_batch)
            self.writer.write(rows)
            self.next_batch += 1
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
                rows[item.index] = _row(item, error=f"UNREADABLE: {payload}")
            else:
                payloads.append((item, payload))
        for item, result in await self._send(payloads):
            rows[item.index] = result
        return [rows[item.index] for item in batch]

    def _read(self, batch: list[Item]) -> list[tuple[Item, bytes | Exception]]:
        read = []
        for item in batch:
            try:
                read.append((item, self.endpoint.payload(item)))
            except (OSError, ValueError) as e:
                read.append((item, e))
        return read

    async def _send(self, payloads: list[tuple[Item, bytes]]) -> list[tuple[Item, dict]]:
        if not payloads:
            return []
        try:
            results = await self._with_retries([p for _, p in payloads])
        except ClientError as e:
            if len(payloads) > 1 and e.code not in RETRYABLE:
                half = len(payloads) // 2  # find the bad inputs; the others still score
                return await self._send(payloads[:half]) + await self._send(payloads[half:])
            return [(item, _row(item, error=str(e))) for item, _ in payloads]
        return [(item, _row(item, **result))
                for (item, _), result in zip(payloads, results, strict=True)]

    async def _with_retries(self, payloads: list[bytes]) -> list[dict]:
        for attempt in range(self.config.retries + 1):
            started = time.monotonic()
            try:
                results = await self.endpoint.call(self.client, payloads)
                self.summary.latencies.append(time.monotonic() - started)
                return results
            except ClientError as e:
                if e.code not in RETRYABLE or attempt == self.config.retries:
                    raise
                self.summary.retries += 1
                cap = min(self.config.max_backoff_seconds,
                          self.config.backoff_seconds * 2 ** attempt)
                await asyncio.sleep(random.uniform(0, cap))  # full jitter
        raise AssertionError("unreachable")


def _row(item: Item, **result) -> dict:
    return {"index": item.index, "id": item.id, "input": item.value, **result}
