"""Every request the clients build and every answer they read, shared by the blocking
and the asyncio client as Triton's clients share one request builder: Predict of any
inputs, metadata and status (functions), and one codec per endpoint,
`encode(payloads) -> PredictRequest` and `decode(response, rows) -> results`, which
`tfstack score` and the Beam handlers use too (running `inputs` and `results` around
a SavedModel in the worker instead of a request). Keys and dtypes come from the wire
contract; an answer that breaks it is a `MalformedResponse`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import grpc
import numpy as np

from clients import response_checks
from clients.errors import MalformedResponse
from clients.results import Answer, Classification, Label, Translation, VersionStatus
from contract import protos
from contract.defaults import TOP_K
from contract.endpoints import (
    CLASSIFIER,
    DEFAULT_SIGNATURE,
    GREEDY_SIGNATURE,
    QA,
    TRANSLATOR,
    Endpoint,
    Signature,
)
from contract.protos import PredictRequest
from contract.tensor_codec import as_tensor_proto, make_tensor_proto

Outputs = Mapping[str, np.ndarray]
_STATES = protos.ModelVersionStatus.State


def model_spec(model: str, signature: str = "", version: int | None = None,
               label: str | None = None) -> protos.ModelSpec:
    """A ModelSpec naming a version by number or label (neither: the latest)."""
    spec = protos.ModelSpec(name=model, signature_name=signature)
    if version is not None and label:
        raise ValueError("give a version or a version label, not both")
    if version is not None:
        spec.version.value = version
    elif label:
        spec.version_label = label
    return spec


def predict_request(model: str, inputs: Mapping[str, object],
                    signature: str = DEFAULT_SIGNATURE, version: int | None = None,
                    label: str | None = None,
                    output_filter: Sequence[str] = ()) -> PredictRequest:
    """A PredictRequest; `inputs` maps tensor keys to arrays or TensorProtos (ours,
    or those of `tf.make_tensor_proto`)."""
    request = PredictRequest(
        model_spec=model_spec(model, signature, version, label),
        output_filter=list(output_filter),
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(as_tensor_proto(value))
    return request


def predict_outputs(response, budget: int = response_checks.RESPONSE_BUDGET_BYTES
                    ) -> dict[str, np.ndarray]:
    """The output arrays of a PredictResponse, by tensor key; `MalformedResponse` for
    an output that cannot be decoded, or outputs declaring more than `budget` bytes."""
    return response_checks.decode_outputs(response.outputs, budget)


def batches(items: Sequence, size: int | None) -> list[Sequence]:
    """`items` in order, in slices of at most `size` (None: one slice of them all)."""
    if size is None:
        return [items] if len(items) else []
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"batch_size must be a positive number of inputs, got {size!r}")
    return [items[start:start + size] for start in range(0, len(items), size)]


def metadata_request(model: str, version: int | None = None, label: str | None = None):
    return protos.GetModelMetadataRequest(
        model_spec=model_spec(model, version=version, label=label),
        metadata_field=["signature_def"])


def signature_defs(response) -> dict:
    """The SignatureDefs of a GetModelMetadataResponse, keyed by signature name."""
    signatures = protos.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return dict(signatures.signature_def)


def status_request(model: str, version: int | None = None):
    return protos.GetModelStatusRequest(model_spec=model_spec(model, version=version))


def version_statuses(response) -> list[VersionStatus]:
    """GetModelStatus's versions; a state or error code no TF Serving sends is the
    server's fault (MalformedResponse), not a traceback."""
    return [VersionStatus(s.version, _state_name(s.state), _code_name(s.status.error_code),
                          s.status.error_message)
            for s in response.model_version_status]


def _state_name(state: int) -> str:
    try:
        return _STATES.Name(state)
    except ValueError as e:
        raise MalformedResponse(f"GetModelStatus reports the unknown state {state}") from e


def _code_name(value: int) -> str:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code.name
    raise MalformedResponse(f"GetModelStatus reports the unknown error code {value}")


def strings(values: Sequence[str | bytes]) -> np.ndarray:
    """A DT_STRING batch: a 1-D object array of bytes (text as UTF-8)."""
    array = np.empty(len(values), dtype=object)
    array[:] = [v if isinstance(v, bytes) else v.encode("utf-8") for v in values]
    return array


class EndpointCodec:
    """Requests to one endpoint's signature and its answers read as typed results.

    Subclasses say how a batch of payloads becomes the signature's input arrays
    (`inputs`) and how its output arrays become one result per payload (`results`).
    """

    endpoint: Endpoint

    def __init__(self, model: str | None = None, signature: str = DEFAULT_SIGNATURE,
                 version: int | None = None, label: str | None = None):
        self.model = model or self.endpoint.model_name
        self.signature = signature
        self.version = version
        self.label = label

    @property
    def contract(self) -> Signature:
        return self.endpoint.signature(self.signature)

    def inputs(self, payloads: Sequence) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def results(self, outputs: Outputs, rows: int | None = None) -> list:
        raise NotImplementedError

    def encode(self, payloads: Sequence) -> PredictRequest:
        """The PredictRequest for a batch of payloads, each input of its contract dtype."""
        tensors = {key: make_tensor_proto(array, dtype=self.contract.input(key).dtype)
                   for key, array in self.inputs(payloads).items()}
        return predict_request(self.model, tensors, self.signature, self.version,
                                        self.label)

    def decode(self, response, rows: int | None = None) -> list:
        """One result per payload sent (`rows` of them, when known)."""
        return self.results(predict_outputs(response), rows)

    def requests(self, payloads: Sequence, batch_size: int | None
                 ) -> Iterator[tuple[PredictRequest, int]]:
        """The requests for `payloads` in order, at most `batch_size` each (None: one),
        with the number of payloads each carries."""
        for batch in batches(list(payloads), batch_size):
            yield self.encode(batch), len(batch)


class ClassifierCodec(EndpointCodec):
    """Payloads are encoded images (bytes, or the path of a file); results are the top
    `top_k` labels of each."""

    endpoint = CLASSIFIER

    def __init__(self, top_k: int = TOP_K, **target):
        super().__init__(**target)
        self.top_k = top_k

    def inputs(self, payloads: Sequence[bytes | str | Path]) -> dict[str, np.ndarray]:
        images = [p if isinstance(p, bytes) else Path(p).read_bytes() for p in payloads]
        return {self.contract.inputs[0].key: strings(images)}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[Classification]:
        checked = response_checks.contract_outputs(outputs, self.contract, rows)
        response_checks.same_shape(checked, ("classes", "scores", "class_ids"))
        images, labels = checked["classes"].shape
        return [Classification(tuple(_label(checked, i, j)
                                     for j in range(min(self.top_k, labels))))
                for i in range(images)]


def _label(outputs: Outputs, i: int, j: int) -> Label:
    """Label `j` of image `i`."""
    return Label(response_checks.text(outputs["classes"][i, j], "classes", i, j),
                 float(outputs["scores"][i, j]), int(outputs["class_ids"][i, j]))


class QACodec(EndpointCodec):
    """Payloads are (story, question) pairs, a story one fact a line; results are the
    answers, with each memory pass's attention over the facts (padding dropped)."""

    endpoint = QA

    def inputs(self, payloads: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        story, question = (spec.key for spec in self.contract.inputs)
        return {story: strings([s for s, _ in payloads]),
                question: strings([q for _, q in payloads])}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[Answer]:
        checked = response_checks.contract_outputs(outputs, self.contract, rows)
        facts, gates = checked["facts"], checked["gates"]
        if gates.shape[2] != facts.shape[1]:
            raise MalformedResponse(f"output 'gates' has shape {list(gates.shape)} for the "
                                    f"{facts.shape[1]} facts of output 'facts'")
        results = []
        for i, answer in enumerate(checked["answer"]):
            real = [j for j, fact in enumerate(facts[i]) if fact]
            results.append(Answer(
                response_checks.text(answer, "answer", i), float(checked["probability"][i]),
                tuple(response_checks.text(facts[i, j], "facts", i, j) for j in real),
                tuple(tuple(float(g[j]) for j in real) for g in gates[i])))
        return results


class TranslatorCodec(EndpointCodec):
    """Payloads are sentences; results are translations by beam search, or with
    `greedy` by the faster greedy decoding, each with its score and attention matrix
    (padding tokens and attention dropped)."""

    endpoint = TRANSLATOR

    def __init__(self, greedy: bool = False, **target):
        super().__init__(signature=GREEDY_SIGNATURE if greedy else DEFAULT_SIGNATURE,
                         **target)

    def inputs(self, payloads: Sequence[str]) -> dict[str, np.ndarray]:
        return {self.contract.inputs[0].key: strings(payloads)}

    def results(self, outputs: Outputs, rows: int | None = None) -> list[Translation]:
        checked = response_checks.contract_outputs(outputs, self.contract, rows)
        results = []
        for i, text in enumerate(checked["translation"]):
            source = _tokens(checked, "source_tokens", i)
            target = _tokens(checked, "target_tokens", i)
            attention = checked["attention"][i]
            if attention.shape[0] < len(target) or attention.shape[1] < len(source):
                raise MalformedResponse(
                    f"output 'attention' has {list(attention.shape)} weights at [{i}] for "
                    f"{len(target)} target and {len(source)} source tokens")
            results.append(Translation(
                response_checks.text(text, "translation", i), float(checked["score"][i]),
                source, target, tuple(tuple(float(w) for w in row)
                                      for row in attention[:len(target), :len(source)])))
        return results


def _tokens(outputs: Outputs, key: str, i: int) -> tuple[str, ...]:
    """Row `i` of a token output, padding ('') dropped."""
    return tuple(response_checks.text(token, key, i, j)
                 for j, token in enumerate(outputs[key][i]) if token)


CODECS = {codec.endpoint.model_name: codec
          for codec in (ClassifierCodec, QACodec, TranslatorCodec)}
