"""`tfstack score --runner RUNNER`: the batch-scoring job as an Apache Beam pipeline,
on DirectRunner here and on Dataflow, Flink or Spark in production.

    Create([input]) -> read the items (clients.scoring.beam_inputs) -> Reshuffle
      -> RunInference: read each payload (a failure goes to the dead letter),
         batch, call the server or the SavedModel (clients.scoring.beam_handlers)
      -> rows (index, id, input, then result fields or `error`), counted
      -> WriteToText: JSONL or CSV shards OUTPUT-SSSSS-of-NNNNN, or the one file
         OUTPUT in input order with num_shards=1; Beam's file sink writes temporary
         files and renames them when the job succeeds, so the output is whole or absent.

Every input gets exactly one row: a retried bundle's output is dropped by the
runner, and a transient server failure fails the bundle rather than becoming an
error row (see `clients.scoring.beam_handlers`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from clients.scoring.beam_handlers import SavedModelHandler, ServingHandler
from clients.scoring.beam_inputs import (
    NAMESPACE,
    Payload,
    UnreadableInput,
    input_format,
    read_items,
)
from clients.scoring.config import BeamConfig
from clients.scoring.files import csv_line, json_line, result_row, row_fields
from clients.scoring.scorers import scorer_for


@dataclass(frozen=True)
class BeamSummary:
    """What the pipeline did, from its metrics."""

    inputs: int
    results: int
    errors: int
    retries: int
    seconds: float
    files: list[str] = field(default_factory=list)

    @property
    def items_per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        equal = "=" if self.inputs == self.results + self.errors else "!= (metrics lost?)"
        return (f"{self.inputs} inputs {equal} {self.results} result rows + {self.errors} "
                f"error rows, {self.retries} retries, {self.items_per_second:.1f} items/s, "
                f"{len(self.files)} file(s)")


class PipelineFailed(RuntimeError):
    """The pipeline did not finish; Beam finalised no output."""


def run_pipeline(config: BeamConfig) -> BeamSummary:
    """Runs the job to the end; raises PipelineFailed (with the cause) otherwise."""
    # Beam notes at INFO each string annotation (PEP 563) it cannot read as a type hint
    logging.getLogger("apache_beam.typehints.native_type_compatibility").setLevel(
        logging.WARNING)
    args = [f"--runner={config.runner}", *config.pipeline_args]
    if (config.runner.lower().startswith("direct")
            and not any(a.startswith("--default_sdk_harness_log_level") for a in args)):
        args.append("--default_sdk_harness_log_level=WARNING")  # not each worker's INFO steps
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    build(pipeline, config)
    started = time.monotonic()
    try:
        result = pipeline.run()
        state = result.wait_until_finish()
    except Exception as e:  # each runner raises its own kind, the worker's traceback in it
        lines = [line for line in str(e).splitlines() if line.strip()]
        raise PipelineFailed(f"the pipeline failed and wrote no output: "
                             f"{lines[-1] if lines else type(e).__name__}") from e
    if state != PipelineState.DONE:
        raise PipelineFailed(f"the pipeline ended {state}; no output was written")
    counts = _counters(result)
    return BeamSummary(counts.get("inputs", 0), counts.get("result_rows", 0),
                       counts.get("error_rows", 0), counts.get("retries", 0),
                       time.monotonic() - started, _written(config))


def build(pipeline: beam.Pipeline, config: BeamConfig) -> None:
    """Adds the scoring job's steps to `pipeline`."""
    endpoint = scorer_for(config.model, config.top_k)
    fmt = input_format(config.input, config.input_format)
    if fmt != "images" and not FileSystems.exists(config.input):
        raise ValueError(f"no such input: {config.input}")
    items = (pipeline
             | "Input" >> beam.Create([config.input])
             | "Read" >> beam.FlatMap(read_items, fmt, config.column or endpoint.column,
                                      config.id_column)
             | "Spread" >> beam.Reshuffle())
    handler = _handler(config, endpoint).with_preprocess_fn(Payload(endpoint))
    scored, failed = items | "Score" >> RunInference(handler).with_exception_handling(
        exc_class=UnreadableInput)
    rows = ((scored | "Rows" >> beam.Map(_scored_row),
             failed.failed_preprocessing[0] | "Unreadable" >> beam.Map(_unreadable_row))
            | "All" >> beam.Flatten()
            | "Count" >> beam.Map(_counted))
    _write(rows, config, row_fields(endpoint.fields))


def _handler(config: BeamConfig, endpoint):
    if config.model_path:
        if not FileSystems.exists(FileSystems.join(config.model_path, "saved_model.pb")):
            raise ValueError(f"--model-path {config.model_path} holds no saved_model.pb; "
                             "give a version folder, e.g. model_repository/classifier/1")
        return SavedModelHandler(endpoint, config.model_path, config.batch_size)
    return ServingHandler(endpoint, config.server, config.deadline, config.security,
                          config.retry_policy, config.batch_size, config.concurrency)


def _scored_row(result) -> dict:
    item, _ = result.example
    return result_row(item, **result.inference)


def _unreadable_row(failure) -> dict:
    item, (_, reason, _) = failure  # the dead letter: (element, (type, repr, traceback))
    return result_row(item, error=reason)


def _counted(row: dict) -> dict:
    Metrics.counter(NAMESPACE, "error_rows" if "error" in row else "result_rows").inc()
    return row


def _by_index(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: row["index"])


def _write(rows, config: BeamConfig, fields: list[str]) -> None:
    csv = (config.output_format or _suffix_format(config.output)) == "csv"
    if config.num_shards == 1:  # one file: in input order, as the local scorer writes
        rows = rows | "Gather" >> beam.combiners.ToList() | "InOrder" >> beam.FlatMap(_by_index)
    if csv:
        lines = rows | "Format" >> beam.Map(lambda row: csv_line(row, fields)[:-1])
    else:
        lines = rows | "Format" >> beam.Map(json_line)
    header = csv_line(dict(zip(fields, fields, strict=True)), fields)[:-1] if csv else None
    lines | "Write" >> beam.io.WriteToText(
        config.output, num_shards=config.num_shards, header=header,
        shard_name_template="" if config.num_shards == 1 else "-SSSSS-of-NNNNN")


def _suffix_format(path: str) -> str:
    return "csv" if path.lower().endswith((".csv", ".tsv")) else "jsonl"


def _counters(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + (counter.result or 0)
    return totals


def _written(config: BeamConfig) -> list[str]:
    output = config.output
    pattern = output if config.num_shards == 1 else f"{output}-*-of-*"
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
