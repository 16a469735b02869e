"""TF Serving's request logging: a model's `logging_config` in the model config file
samples its requests (`sampling_config.sampling_rate`) into `PredictionLog` records
(Predict, Classify, Regress, MultiInference, each with its `LogMetadata`), handed to
the log collector its `log_collector_config` names (core/server_request_logger.cc).

TF Serving ships no collector and refuses a type it has none for ("Cannot find
LogCollector::Factory for type: ..."); this server has one, `tfrecord`: records go to
TFRecord files `<filename_prefix>-NNNNN.tfrecord`, the format warm-up files have, so
captured traffic can warm up the next version (`tfstack export warmup`).

Logging never fails or slows a request: a sampled request waits, as it is, in a queue
bounded by count and by bytes for the collector's own thread, which builds and
serialises its record there (not on the event loop, where a large request would hold
up every other caller); files rotate at a size and only the newest few are kept; and a
full queue, a full disk or a failing writer drops the record and counts it.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import logging_pb2, model_pb2, prediction_log_pb2

from serving.config import ModelConfig
from serving.config_rules import ConfigError

logger = logging.getLogger(__name__)

COLLECTOR_TYPE = "tfrecord"
Count = Callable[[str, str], None]  # (model, outcome: written, dropped or failed)


@dataclass(frozen=True)
class LogLimits:
    """What request logs may take: bytes a file holds before the next one starts, files
    kept per prefix (older ones are deleted), and the records waiting to be written, by
    count and by bytes (a record holds a whole request and answer)."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_files: int = 16
    max_queued: int = 1024
    max_queued_bytes: int = 64 * 1024 * 1024


class _Collector:
    """One filename prefix's TFRecord files, written by a thread of their own."""

    def __init__(self, prefix: str, limits: LogLimits, count: Count):
        self.prefix, self._limits, self._count = prefix, limits, count
        self._queue: queue.Queue = queue.Queue(limits.max_queued)
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._writer: tf.io.TFRecordWriter | None = None
        self._written = 0
        self._part = self._last_part() + 1
        self._thread = threading.Thread(target=self._run, name=f"request log {prefix}",
                                        daemon=True)
        self._thread.start()

    def put(self, model: str, record: Callable[[], bytes], size: int) -> None:
        """Queues `record()` (made on this collector's thread) unless the queue is full
        or its bytes would pass the budget; `size`: what the request it holds takes."""
        with self._lock:
            if self._queued_bytes + size > self._limits.max_queued_bytes:
                self._count(model, "dropped")
                return
            self._queued_bytes += size
        try:
            self._queue.put_nowait((model, record, size))
        except queue.Full:
            self._release(size)
            self._count(model, "dropped")

    def _release(self, size: int) -> None:
        with self._lock:
            self._queued_bytes -= size

    def close(self) -> None:
        self._queue.put((None, None, 0))  # after what is queued
        self._thread.join(10)

    def _files(self) -> list[Path]:
        pattern = re.compile(re.escape(Path(self.prefix).name) + r"-(\d{5,})\.tfrecord")
        folder = Path(self.prefix).parent
        found = [p for p in folder.glob(f"{Path(self.prefix).name}-*.tfrecord")
                 if pattern.fullmatch(p.name)] if folder.is_dir() else []
        return sorted(found, key=lambda p: int(pattern.fullmatch(p.name).group(1)))

    def _last_part(self) -> int:
        files = self._files()
        return int(files[-1].stem.rsplit("-", 1)[1]) if files else 0

    def _run(self) -> None:
        while True:
            model, record, size = self._queue.get()
            if record is None:
                break
            try:
                data = record()
            except Exception:  # a record that cannot be made must not end the thread
                logger.exception("request log %s: cannot make a record", self.prefix)
                self._count(model, "failed")
                continue
            finally:
                self._release(size)
            try:
                self._write(data)
                self._count(model, "written")
            except (OSError, tf.errors.OpError) as e:
                self._count(model, "failed")
                logger.warning("request log %s: cannot write (%s); dropping records until "
                               "it can", self.prefix, e)
                self._writer = None
        if self._writer is not None:
            self._writer.close()

    def _write(self, record: bytes) -> None:
        if self._writer is None or self._written >= self._limits.max_file_bytes:
            self._rotate()
        self._writer.write(record)
        self._writer.flush()
        self._written += len(record) + 16  # TFRecord framing: length, two CRCs

    def _rotate(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        Path(self.prefix).parent.mkdir(parents=True, exist_ok=True)
        path = f"{self.prefix}-{self._part:05d}.tfrecord"
        self._part += 1
        self._writer, self._written = tf.io.TFRecordWriter(path), 0
        for old in self._files()[:-self._limits.max_files]:
            old.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Policy:
    sampling_rate: float
    collector: _Collector
    config: logging_pb2.LoggingConfig


class RequestLogger:
    """Each model's sampling and collector, from its config's `logging_config`."""

    def __init__(self, limits: LogLimits = LogLimits(), count: Count = lambda m, o: None):
        self._limits, self._count = limits, count
        self._policies: dict[str, _Policy] = {}
        self._collectors: dict[str, _Collector] = {}

    def update(self, models: list[ModelConfig]) -> None:
        """Applies a model list (checked first, see `check`)."""
        wanted = self.check(models)
        collectors = {}
        for config in wanted.values():
            prefix = config.log_collector_config.filename_prefix
            collectors[prefix] = self._collectors.get(prefix) or collectors.get(prefix) or \
                _Collector(prefix, self._limits, self._count)
        for prefix, collector in self._collectors.items():
            if prefix not in collectors:
                collector.close()
        self._collectors = collectors
        self._policies = {name: _Policy(config.sampling_config.sampling_rate,
                                        collectors[config.log_collector_config
                                                   .filename_prefix], config)
                          for name, config in wanted.items()}

    @staticmethod
    def check(models: list[ModelConfig]) -> dict[str, logging_pb2.LoggingConfig]:
        """Each logged model's LoggingConfig; ConfigError for a collector type this
        server lacks or a sampling rate outside [0, 1], as TF Serving refuses them."""
        wanted = {}
        for model in models:
            if not model.HasField("logging_config"):
                continue
            config = model.logging_config
            kind = config.log_collector_config.type
            if kind != COLLECTOR_TYPE:
                raise ConfigError(f"Cannot find LogCollector::Factory for type: {kind} "
                                  f"(model {model.name}); this server's is "
                                  f"{COLLECTOR_TYPE!r}")
            rate = config.sampling_config.sampling_rate
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"model {model.name}: sampling_rate {rate} is outside "
                                  "[0, 1]")
            if not config.log_collector_config.filename_prefix:
                raise ConfigError(f"model {model.name}: log_collector_config needs a "
                                  "filename_prefix")
            wanted[model.name] = config
        return wanted

    def log(self, model: str, version: int, signature: str, tags: list[str], kind: str,
            build: Callable[[], object], size: Callable[[], int]) -> None:
        """Samples one answered request: `kind` is the PredictionLog field (`predict_log`,
        `classify_log`, ...), `build()` makes its message (request and response) on the
        collector's thread, and `size()` says about how many bytes the request and
        answer take, for the queue's budget; both only for a request sampled."""
        policy = self._policies.get(model)
        if policy is None or random.random() >= policy.sampling_rate:
            return
        stamp, sampling = int(time.time()), policy.config.sampling_config

        def record() -> bytes:
            log = prediction_log_pb2.PredictionLog(log_metadata=logging_pb2.LogMetadata(
                model_spec=model_pb2.ModelSpec(name=model, signature_name=signature),
                sampling_config=sampling, saved_model_tags=tags, timestamp_secs=stamp))
            log.log_metadata.model_spec.version.value = version
            getattr(log, kind).CopyFrom(build())
            return log.SerializeToString()

        policy.collector.put(model, record, size())

    def close(self) -> None:
        for collector in self._collectors.values():
            collector.close()
