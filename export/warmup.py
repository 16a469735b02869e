"""Warm-up records in TF Serving's format: `assets.extra/tf_serving_warmup_requests`,
a TFRecord file of `PredictionLog` protos replayed by the server before it serves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from contract.defaults import MAX_WARMUP_RECORDS, WARMUP_PATH


def predict_log(model_name: str, signature: str,
                inputs: Mapping[str, np.ndarray]) -> prediction_log_pb2.PredictionLog:
    """One warm-up record: a Predict request for `signature` with `inputs`."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def write_warmup(saved_model_dir: str | Path,
                 records: Sequence[prediction_log_pb2.PredictionLog]) -> Path:
    """Writes `records` where TF Serving looks for them; returns the file's path."""
    path = Path(saved_model_dir).joinpath(*WARMUP_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path


_REPLAYED = ("predict_log", "classify_log", "regress_log", "multi_inference_log")


def records_from_logs(log_files: Sequence[str | Path], model: str | None = None,
                      limit: int = MAX_WARMUP_RECORDS) -> list[prediction_log_pb2.PredictionLog]:
    """Warm-up records from request logs (`logging_config`'s TFRecord files, the same
    PredictionLog): the first `limit` requests of a kind TF Serving replays, of `model`
    if given, each without its response and log metadata, which warm-up ignores."""
    records = []
    for path in log_files:
        for raw in tf.data.TFRecordDataset(str(path)):
            record = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            kind = record.WhichOneof("log_type")
            if kind not in _REPLAYED or (model and record.log_metadata.model_spec.name
                                         != model):
                continue
            getattr(record, kind).ClearField("response")
            record.ClearField("log_metadata")
            records.append(record)
            if len(records) == limit:
                return records
    return records
