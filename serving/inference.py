"""Classify and Regress: tf.Example inputs in, TF Serving's result protos out.

Transport-agnostic: both the gRPC methods and REST's `:classify`/`:regress` turn
their request into serialized tf.Examples here and read the signature's outputs
back into ClassificationResult / RegressionResult.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import text_format
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from serving.errors import FailedPrecondition, InvalidArgument
from serving.servable import Servable
from serving.signature_checks import check_row_count
from serving.tensor_protos import DEFAULT_MAX_REQUEST_TENSOR_BYTES

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def serialized_examples(request_input: input_pb2.Input,
                        max_bytes: int = DEFAULT_MAX_REQUEST_TENSOR_BYTES,
                        max_rows: int = 0) -> np.ndarray:
    """The request's examples, each merged with the shared context, serialized; sized
    first (the context counts once per example), so a large context shared by many
    examples is refused before it is copied into any of them."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples, context = request_input.example_list.examples, None
    elif kind == "example_list_with_context":
        with_context = request_input.example_list_with_context
        examples, context = with_context.examples, with_context.context
    else:
        raise InvalidArgument("Input is empty: give input.example_list or "
                              "input.example_list_with_context")
    if not examples:
        raise InvalidArgument("Input is empty: the request has no examples")
    check_row_count(len(examples), max_rows)
    shared = context.ByteSize() if context is not None else 0
    total = sum(example.ByteSize() for example in examples) + shared * len(examples)
    if total > max_bytes:
        raise InvalidArgument(
            f"the request's {len(examples)} examples, each merged with the {shared}-byte "
            f"context, would take {total} bytes, more than the server's limit of "
            f"{max_bytes} bytes per request (--max_request_tensor_bytes); send fewer "
            "examples per request or a smaller context")
    if context is None:
        return np.array([e.SerializeToString() for e in examples], dtype=object)
    merged = example_pb2.Example()
    serialized = []
    for example in examples:
        merged.CopyFrom(context)
        merged.MergeFrom(example)
        serialized.append(merged.SerializeToString())
    return np.array(serialized, dtype=object)


def example_count(request_input: input_pb2.Input) -> int:
    """How many examples a Classify/Regress input holds."""
    kind = request_input.WhichOneof("kind")
    return len(getattr(request_input, kind).examples) if kind else 0


_KIND = {CLASSIFY_METHOD: "classification", REGRESS_METHOD: "regression"}


def example_input_key(servable: Servable, signature_key: str, method: str,
                      check_method_name: bool = False) -> str:
    """The serialized-examples input of a classify/regress signature, after TF
    Serving's checks (servables/tensorflow/classifier.cc and regressor.cc,
    PreProcessClassification/PreProcessRegression): its method_name only when
    --enable_signature_method_name_check (TF2 exports cannot set it), then one input
    named `inputs`, and `classes`/`scores` (one or two) or one `outputs`."""
    try:
        signature = servable.signature(signature_key)
    except FailedPrecondition as e:  # Predict's status; Classify/Regress give this one
        raise InvalidArgument(f"No signature was found with the name: {signature_key!r} "
                              f"(model {servable.name} version {servable.version})") from e
    kind = _KIND[method]
    if check_method_name and signature.method_name != method:
        raise InvalidArgument(f"Expected {kind} signature method_name to be {method}. "
                              f"Was: {signature.method_name}")
    outputs = set(signature.outputs)
    if len(signature.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if method == CLASSIFY_METHOD and len(outputs) not in (1, 2):
        raise InvalidArgument(f"Expected one or two output Tensors, found {len(outputs)}")
    if method == REGRESS_METHOD and len(outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise InvalidArgument(f"No {kind} inputs found in SignatureDef: {_text(signature)}")
    if method == CLASSIFY_METHOD and not outputs & {"classes", "scores"}:
        raise InvalidArgument("Expected classification signature outputs to contain at "
                              'least one of "classes" or "scores". Signature was: '
                              f"{_text(signature)}")
    if method == REGRESS_METHOD and "outputs" not in outputs:
        raise InvalidArgument(f"No regression outputs found in SignatureDef: "
                              f"{_text(signature)}")
    return "inputs"


def _text(signature) -> str:
    """A SignatureDef as one line of text, for the messages that quote it."""
    return text_format.MessageToString(signature, as_one_line=True)


def classification_result(outputs: dict[str, np.ndarray], count: int,
                          ) -> classification_pb2.ClassificationResult:
    """`classes` and/or `scores` outputs, [batch, k], as a ClassificationResult."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is None and scores is None:
        raise InvalidArgument("classification signature needs a 'classes' or 'scores' output")
    shape = (classes if classes is not None else scores).shape
    classes = classes.reshape(count, -1) if classes is not None else None
    scores = scores.reshape(count, -1) if scores is not None else None
    result = classification_pb2.ClassificationResult()
    for row in range(count):
        labelled = result.classifications.add()
        for column in range(shape[-1] if len(shape) > 1 else 1):
            entry = labelled.classes.add()
            if classes is not None:
                entry.label = classes[row, column].decode("utf-8", "replace")
            if scores is not None:
                entry.score = float(scores[row, column])
    return result


def regression_result(outputs: dict[str, np.ndarray], count: int,
                      ) -> regression_pb2.RegressionResult:
    """The `outputs` output, [batch] or [batch, 1], as a RegressionResult."""
    if "outputs" not in outputs:
        raise InvalidArgument("regression signature needs an 'outputs' output")
    values = np.asarray(outputs["outputs"]).reshape(count, -1)
    if values.shape[1] != 1:
        raise InvalidArgument(f"regression output must hold one value per example; "
                              f"got shape {np.shape(outputs['outputs'])}")
    result = regression_pb2.RegressionResult()
    for value in values[:, 0]:
        result.regressions.add(value=float(value))
    return result
