"""Replaying a SavedModel's warm-up records (`assets.extra/tf_serving_warmup_requests`)
before the version serves, as TF Serving does."""

from __future__ import annotations

import logging

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving.errors import FailedPrecondition, ServingError
from serving.servable import Servable
from serving.tensor_protos import to_arrays

logger = logging.getLogger(__name__)

WARMUP_PATH = ("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000  # TF Serving's own cap


def replay_warmup(servable: Servable) -> int:
    """Runs each Predict record against `servable`; returns how many ran.

    A failing record fails the load, so a version that cannot answer its own
    warm-up never serves.
    """
    path = servable.path.joinpath(*WARMUP_PATH)
    if not path.is_file():
        return 0
    count = 0
    for raw in tf.data.TFRecordDataset(str(path)).take(MAX_RECORDS):
        record = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        if record.WhichOneof("log_type") != "predict_log":
            raise FailedPrecondition(
                f"{path}: record {count} is a {record.WhichOneof('log_type')}; "
                "only predict_log warm-up records are supported"
            )
        request = record.predict_log.request
        try:
            inputs = to_arrays(request.inputs)
            signature = servable.validate(request.model_spec.signature_name, inputs)
            servable.run(signature, inputs)
        except ServingError as e:
            raise FailedPrecondition(f"warm-up record {count} in {path} failed: {e}") from e
        count += 1
    logger.info("%s version %d: replayed %d warm-up records",
                servable.name, servable.version, count)
    return count
