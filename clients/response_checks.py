"""A server's answer, checked before it is read: the client trusts no server.

Each output tensor is sized from the shape it declares before it is built, against a
response budget, so that a tiny answer declaring a huge shape (filled from its last
value, as TensorFlow fills it) is refused instead of filling memory. An endpoint's
outputs are then checked against the wire contract: present, of the declared dtype
and rank, one row per input sent, finite numbers, UTF-8 text. Any fault is a
`MalformedResponse` naming the output at fault, never a traceback or a number that
is not one (JSON has no NaN).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from clients.errors import MalformedResponse
from contract import tensor_codec as tensors
from contract.defaults import MAX_MESSAGE_BYTES
from contract.endpoints import Signature, TensorSpec

# The bytes a response's outputs may take once decoded: four times the largest message
# accepted. Numbers travel as raw bytes, decoded byte for byte, so no honest answer
# within that limit comes near it (only millions of near-empty strings, at 32 bytes
# each decoded, would), while a shape filled from one value stops here.
RESPONSE_BUDGET_BYTES = 4 * MAX_MESSAGE_BYTES


def decode_outputs(outputs: Mapping[str, object], budget: int = RESPONSE_BUDGET_BYTES
                   ) -> dict[str, np.ndarray]:
    """The arrays of a response's output TensorProtos; none is built unless all of them
    together take at most `budget` bytes, as their declared shapes say."""
    sizes = {key: _declared_bytes(key, proto) for key, proto in outputs.items()}
    if sum(sizes.values()) > budget:
        raise MalformedResponse(_over_budget(outputs, sizes, budget))
    arrays = {}
    for key, proto in outputs.items():
        try:
            arrays[key] = tensors.make_ndarray(proto)
        except ValueError as e:
            raise MalformedResponse(f"output {key!r}: {e}") from e
    return arrays


def _declared_bytes(key: str, proto) -> int:
    try:
        return tensors.tensor_size(proto).bytes
    except ValueError as e:
        raise MalformedResponse(f"output {key!r}: {e}") from e


def _over_budget(outputs: Mapping[str, object], sizes: dict[str, int], budget: int) -> str:
    """Names the largest output, alone over the budget or with the others."""
    key = max(sizes, key=sizes.__getitem__)
    shape = list(tensors.declared_shape(outputs[key]))
    largest = f"output {key!r} declares shape {shape} ({byte_size(sizes[key])})"
    if sizes[key] > budget:
        return f"{largest}, more than the {byte_size(budget)} response budget"
    return (f"its outputs declare {byte_size(sum(sizes.values()))} in all, more than the "
            f"{byte_size(budget)} response budget ({largest})")


def byte_size(count: int) -> str:
    """`count` bytes as a reader wants them: 256 MiB, 953.7 MiB, 1.9 GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def contract_outputs(outputs: Mapping[str, np.ndarray], signature: Signature,
                     rows: int | None = None) -> dict[str, np.ndarray]:
    """The outputs `signature` declares, each present, of its dtype and rank, with
    finite numbers, and all with as many rows as inputs were sent (`rows`, when known;
    else as many as each other)."""
    checked = {spec.key: _checked(outputs, spec) for spec in signature.outputs}
    first = signature.outputs[0].key
    for key, array in checked.items():
        if rows is not None and len(array) != rows:
            raise MalformedResponse(f"output {key!r} has {_rows(len(array))} for the "
                                    f"{rows} inputs sent")
        if len(array) != len(checked[first]):
            raise MalformedResponse(f"output {key!r} has {_rows(len(array))} where "
                                    f"{first!r} has {len(checked[first])}")
    return checked


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _checked(outputs: Mapping[str, np.ndarray], spec: TensorSpec) -> np.ndarray:
    if spec.key not in outputs:
        raise MalformedResponse(f"output {spec.key!r} is missing (it has: "
                                f"{', '.join(map(repr, sorted(outputs))) or 'none'})")
    array = np.asarray(outputs[spec.key])
    if array.dtype != tensors.numpy_dtype(spec.dtype):
        raise MalformedResponse(f"output {spec.key!r} is {_dtype(array)}, not {spec.dtype}")
    if array.ndim != len(spec.shape):
        raise MalformedResponse(f"output {spec.key!r} has shape {list(array.shape)}, not "
                                f"the {len(spec.shape)} dimensions of the contract")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        at = np.argwhere(~np.isfinite(array))[0]
        raise MalformedResponse(f"output {spec.key!r} holds {array[tuple(at)]} at "
                                f"{at.tolist()}, where a finite number belongs")
    return array


def _dtype(array: np.ndarray) -> str:
    try:
        return tensors.dtype_name(array.dtype)
    except ValueError:
        return str(array.dtype)


def same_shape(outputs: Mapping[str, np.ndarray], keys: Iterable[str]) -> None:
    """Outputs that go together (a label, its score, its id) have one shape."""
    first, *others = keys
    for key in others:
        if outputs[key].shape != outputs[first].shape:
            raise MalformedResponse(f"output {key!r} has shape {list(outputs[key].shape)} "
                                    f"where {first!r} has {list(outputs[first].shape)}")


def text(value: bytes, key: str, *index: int) -> str:
    """A string output's value as text; bytes that are not UTF-8 are the server's fault."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedResponse(f"output {key!r} holds {value[:40]!r} at {list(index)}, "
                                "which is not UTF-8 text") from e
