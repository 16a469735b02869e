"""The Open Inference Protocol's classification extension: an output asked for with
`"classification": k` comes back as its top k entries along the last axis, each the
BYTES string "value:index", or "value:index:label" where the signature has a string
`classes` output of the same shape (TF Serving's Classify signature names it so)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from serving.errors import InvalidArgument

PARAMETER = "classification"
LABELS_OUTPUT = "classes"


def class_count(output: str, value: object) -> int:
    """A requested output's classification count, checked."""
    if type(value) is not int or value < 1:
        raise InvalidArgument(f'output \'{output}\': "{PARAMETER}" must be a positive '
                              f"integer, not {value!r}")
    return value


def outputs_to_fetch(wanted: list[str], counts: Mapping[str, int],
                     signature_outputs: Mapping) -> list[str]:
    """The outputs to run for: those wanted, plus `classes` when a classified output
    can take its labels from it."""
    if counts and LABELS_OUTPUT in signature_outputs and wanted and LABELS_OUTPUT not in wanted:
        return [*wanted, LABELS_OUTPUT]
    return wanted


def classify(outputs: dict[str, np.ndarray], counts: Mapping[str, int],
             wanted: list[str]) -> dict[str, np.ndarray]:
    """The outputs with each classified one replaced by its top-k strings; `classes`
    is dropped again when it was fetched only for labels."""
    labels = outputs.get(LABELS_OUTPUT)
    answer = {}
    for name, array in outputs.items():
        if name == LABELS_OUTPUT and wanted and name not in wanted:
            continue
        count = counts.get(name)
        answer[name] = array if count is None else _top(name, array, count, labels)
    return answer


def _top(name: str, array: np.ndarray, count: int, labels: np.ndarray | None) -> np.ndarray:
    if array.ndim == 0 or array.dtype == object or array.dtype == np.bool_:
        raise InvalidArgument(f"output '{name}' of shape {list(array.shape)} and dtype "
                              f"{array.dtype} cannot be classified: it needs numbers along "
                              "a last axis")
    if labels is not None and (labels.shape != array.shape or labels.dtype != object):
        labels = None
    count = min(count, array.shape[-1])
    # Stable, so equal scores keep their index order.
    order = np.argsort(-array.astype(np.float64), axis=-1, kind="stable")[..., :count]
    values = np.take_along_axis(array, order, axis=-1)
    result = np.empty(order.shape, dtype=object)
    for position in np.ndindex(order.shape):
        index = int(order[position])
        text = f"{float(values[position]):f}:{index}"
        if labels is not None:
            text += ":" + labels[position[:-1] + (index,)].decode("utf-8", "replace")
        result[position] = text.encode()
    return result
