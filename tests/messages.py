"""Building test inputs: encoded images and TF Serving Predict requests."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2


def png(image: np.ndarray) -> bytes:
    """An `(h, w, c)` array as PNG bytes."""
    return tf.io.encode_png(np.asarray(image).astype(np.uint8)).numpy()


def predict_request(model: str, inputs: dict, signature: str = "", version: int | None = None,
                    label: str | None = None) -> predict_pb2.PredictRequest:
    """A PredictRequest as any TF Serving client builds it with the official protos."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request
