"""Building TF Serving requests and reading responses: shared by the sync and the
asyncio client, so both speak the wire contract the same way."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
import numpy as np

from clients import protos, response_checks, tensors
from clients.errors import MalformedResponse
from clients.results import Answer, Classification, Label, Translation, VersionStatus
from export.contracts import (
    CLASSIFIER,
    DEFAULT_SIGNATURE,
    GREEDY_SIGNATURE,
    QA,
    TRANSLATOR,
    Signature,
)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # spread calls over every address a target resolves to (a headless Service)
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
]
# The bytes a response's outputs may take once decoded: four times the largest message
# accepted, which no answer TF Serving sends within that limit comes near (numbers
# travel as raw bytes, decoded byte for byte; a string costs at least 2 bytes on the
# wire and a pointer decoded), while a shape filled from one value stops here.
RESPONSE_BUDGET_BYTES = 4 * MAX_MESSAGE_BYTES
_STATES = protos.ModelVersionStatus.State
# Requests of at most this many inputs each, by default: under TF Serving's
# max_batch_size of serving/batching.config (64), and of most deployments.
DEFAULT_BATCH_SIZE = 32


def channel_target(server: str) -> str:
    """A gRPC target for `server`: `host:port`, `dns:///name:port`, or several
    comma-separated `ip:port` addresses (balanced round robin)."""
    addresses = [a.strip() for a in server.split(",") if a.strip()]
    if len(addresses) == 1:
        return addresses[0]
    for address in addresses:
        host = address.rsplit(":", 1)[0].strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError as e:
            raise ValueError(f"several addresses must be IP:PORT ({address!r} is not); for "
                             "host names use one DNS name with several records: "
                             "dns:///name:port") from e
    scheme = "ipv6" if any(":" in a.rsplit(":", 1)[0] for a in addresses) else "ipv4"
    return f"{scheme}:{','.join(addresses)}"


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


def contract_tensor(signature: Signature, key: str, values) -> protos.TensorProto:
    """`values` as a TensorProto of the dtype the wire contract declares for `key`."""
    return tensors.make_tensor_proto(values, dtype=signature.input(key).dtype)


def predict_request(model: str, inputs: Mapping[str, object],
                    signature: str = DEFAULT_SIGNATURE, version: int | None = None,
                    label: str | None = None,
                    output_filter: Sequence[str] = ()) -> protos.PredictRequest:
    """A PredictRequest; `inputs` maps tensor keys to arrays or TensorProtos (ours,
    or those of `tf.make_tensor_proto`)."""
    request = protos.PredictRequest(
        model_spec=model_spec(model, signature, version, label),
        output_filter=list(output_filter),
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tensors.as_tensor_proto(value))
    return request


def predict_outputs(response, budget: int = RESPONSE_BUDGET_BYTES) -> dict[str, np.ndarray]:
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


def classify_request(images: Sequence[bytes | str | Path], model: str = CLASSIFIER.model_name,
                     version: int | None = None, label: str | None = None):
    """A Predict request for the classifier's `serving_default`: images as encoded
    bytes or file paths."""
    signature = CLASSIFIER.signature(DEFAULT_SIGNATURE)
    key = signature.inputs[0].key
    data = [image if isinstance(image, bytes) else Path(image).read_bytes() for image in images]
    return predict_request(model, {key: contract_tensor(signature, key, data)},
                           DEFAULT_SIGNATURE, version, label)


def classifications(outputs: Mapping[str, np.ndarray], top_k: int,
                    rows: int | None = None) -> list[Classification]:
    """The classifier's outputs as typed results, `top_k` labels each; `rows` is the
    number of images sent, when known. A malformed answer is a `MalformedResponse`."""
    checked = response_checks.contract_outputs(
        outputs, CLASSIFIER.signature(DEFAULT_SIGNATURE), rows)
    response_checks.same_shape(checked, ("classes", "scores", "class_ids"))
    images, labels = checked["classes"].shape
    return [Classification(tuple(_label(checked, i, j) for j in range(min(top_k, labels))))
            for i in range(images)]


def _label(outputs: Mapping[str, np.ndarray], i: int, j: int) -> Label:
    """Label `j` of image `i`."""
    return Label(response_checks.text(outputs["classes"][i, j], "classes", i, j),
                 float(outputs["scores"][i, j]), int(outputs["class_ids"][i, j]))


def qa_request(stories: Sequence[str], questions: Sequence[str], model: str = QA.model_name,
               version: int | None = None, label: str | None = None):
    """A Predict request for the QA endpoint: stories (one fact a line) and questions."""
    signature = QA.signature(DEFAULT_SIGNATURE)
    inputs = {key: contract_tensor(signature, key, [t.encode("utf-8") for t in texts])
              for key, texts in (("story", stories), ("question", questions))}
    return predict_request(model, inputs, DEFAULT_SIGNATURE, version, label)


def answers(outputs: Mapping[str, np.ndarray], rows: int | None = None) -> list[Answer]:
    """The QA endpoint's outputs as typed answers, padding facts dropped; `rows` is the
    number of questions sent, when known. A malformed answer is a `MalformedResponse`."""
    checked = response_checks.contract_outputs(outputs, QA.signature(DEFAULT_SIGNATURE), rows)
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


def translate_request(sentences: Sequence[str], model: str = TRANSLATOR.model_name,
                      version: int | None = None, label: str | None = None,
                      greedy: bool = False):
    """A Predict request for the translator: beam search (`serving_default`), or the
    faster greedy decoding with `greedy`."""
    name = GREEDY_SIGNATURE if greedy else DEFAULT_SIGNATURE
    signature = TRANSLATOR.signature(name)
    key = signature.inputs[0].key
    data = [sentence.encode("utf-8") for sentence in sentences]
    return predict_request(model, {key: contract_tensor(signature, key, data)},
                           name, version, label)


def translations(outputs: Mapping[str, np.ndarray], rows: int | None = None
                 ) -> list[Translation]:
    """The translator's outputs as typed results, padding tokens and attention dropped;
    `rows` is the number of sentences sent, when known. A malformed answer is a
    `MalformedResponse`."""
    checked = response_checks.contract_outputs(
        outputs, TRANSLATOR.signature(DEFAULT_SIGNATURE), rows)
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


def _tokens(outputs: Mapping[str, np.ndarray], key: str, i: int) -> tuple[str, ...]:
    """The non-empty tokens of row `i` of a padded output ('' pads the end)."""
    return tuple(response_checks.text(token, key, i, j)
                 for j, token in enumerate(outputs[key][i]) if token)


def _code_name(value: int) -> str:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code.name
    raise MalformedResponse(f"GetModelStatus reports the unknown error code {value}")
