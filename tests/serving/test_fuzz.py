"""Fuzzing the real server process with seeded hostile requests (tests/serving/
fuzz_inputs.py): every answer must be a well-formed status, the server must keep
answering a good request, log no traceback, and its memory must stay bounded.

Direct scheduling and server-side batching each get their own server; requests go
out in waves of concurrent calls, so batches mix good and bad requests.
"""

from __future__ import annotations

import concurrent.futures
import json
import random
from pathlib import Path

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.launcher import ServerProcess, free_port
from tests.serving import fuzz_inputs as fuzz
from tests.serving.conftest import write_doubler, write_example_model

SEED = 20240611
PROTO_CASES, BYTES_CASES, REST_CASES, AMPLIFIER_CASES = 800, 600, 600, 96
OIP_CASES = 300  # each of OIP REST and OIP gRPC
WAVE = 8  # calls in flight at once
MAX_RSS_GROWTH_BYTES = 300 * 2**20
Code = grpc.StatusCode
# What a request can be answered with; INTERNAL or UNKNOWN would be a crash.
ANSWERS = {Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION,
           Code.RESOURCE_EXHAUSTED, Code.UNAVAILABLE}


@pytest.fixture(scope="module", params=["direct", "batching"])
def fuzzed(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzed")
    write_doubler(root / "1")
    examples = tmp_path_factory.mktemp("examples")
    write_example_model(examples / "1")  # Classify/Regress, with a context to copy
    models = root / "models.config"
    models.write_text(
        "model_config_list {\n"
        + "".join(f'  config {{ name: "{name}" base_path: "{path}" '
                  'model_platform: "tensorflow" }\n'
                  for name, path in ((fuzz.MODEL, root), ("examples", examples)))
        + "}\n")
    batching = []
    if request.param == "batching":
        config = root.parent / "batching.config"
        config.write_text("max_batch_size { value: 8 }\nbatch_timeout_micros { value: 500 }\n"
                          "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 8 }\n")
        batching = ["--enable_batching", f"--batching_parameters_file={config}"]
    with ServerProcess(f"--model_config_file={models}",
                       f"--rest_api_port={free_port()}", *batching) as server:
        channel = grpc.insecure_channel(server.target)
        yield server, channel
        channel.close()


def rss_bytes(server: ServerProcess) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def assert_still_serving(server: ServerProcess, channel: grpc.Channel) -> None:
    assert server.process.poll() is None, "".join(server.log[-40:])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    answer = stub.Predict(fuzz.good_request(), timeout=30)
    assert tf.make_ndarray(answer.outputs["y"]).tolist() == [[2.0, 4.0]]
    rest = requests.post(f"{server.rest_url}/v1/models/{fuzz.MODEL}:predict",
                         json={"instances": fuzz.GOOD_X.tolist()}, timeout=30)
    assert rest.json() == {"predictions": [{"y": [2.0, 4.0], "total": 3.0}]}


def grpc_code(future: grpc.Future) -> tuple[Code, str]:
    try:
        future.result()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return Code.OK, ""


def fuzz_unary(channel: grpc.Channel, method: str, make, count: int, rng: random.Random,
               label: str) -> None:
    """`count` requests from `make(rng)` to a unary `method`, a wave at a time; each
    must be answered with a status a request can cause."""
    call = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString())
    for start in range(0, count, WAVE):
        cases = [make(rng) for _ in range(WAVE)]
        futures = [call.future(request, timeout=60) for request in cases]
        for index, (request, future) in enumerate(zip(cases, futures, strict=True), start):
            code, details = grpc_code(future)
            assert code in ANSWERS, f"{label} case {index}: {code} {details}\n{request}"[:2000]


def fuzz_amplifiers(channel: grpc.Channel, rng: random.Random) -> None:
    """Requests that would cost far more than they carry, some gzip-compressed (a
    few kB on the wire for megabytes decompressed)."""
    for start in range(0, AMPLIFIER_CASES, WAVE):
        cases = [(fuzz.random_request(rng) if rng.random() < 0.5 else fuzz.context_request(rng))
                 for _ in range(WAVE)]
        futures = [channel.unary_unary(
            f"/tensorflow.serving.PredictionService/{_method(request)}",
            request_serializer=type(request).SerializeToString).future(
                request, timeout=60,
                compression=rng.choice([None, grpc.Compression.Gzip]))
            for request in cases]
        for index, future in enumerate(futures, start):
            code, details = grpc_code(future)
            assert code in ANSWERS, f"amplifier case {index}: {code} {details}"[:2000]


def _method(request) -> str:
    return {"PredictRequest": "Predict", "ClassificationRequest": "Classify",
            "RegressionRequest": "Regress"}[type(request).__name__]


def fuzz_bytes(channel: grpc.Channel, rng: random.Random) -> None:
    for start in range(0, BYTES_CASES, WAVE):
        cases = [fuzz.mutated_bytes(rng) for _ in range(WAVE)]
        futures = [channel.unary_unary(method).future(data, timeout=60)  # bytes as they are
                   for method, data in cases]
        for index, ((method, data), future) in enumerate(zip(cases, futures, strict=True),
                                                          start):
            code, details = grpc_code(future)
            if fuzz.parses(method, data):
                assert code in ANSWERS, f"bytes case {index}: {code} {details} {data!r}"[:2000]
            else:  # as TF Serving's C++ gRPC answers bytes that are no such request
                assert (code, details.split(":")[0]) == (
                    Code.INTERNAL, "Failed to parse request"), f"bytes case {index}: {code}"


def check_rest(url: str, body: bytes, headers: dict | None = None) -> None:
    answer = requests.post(url, data=body, timeout=60,
                           headers=headers or {"Content-Type": "application/json"})
    if answer.status_code != 200:
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
        assert isinstance(answer.json()["error"], str)
    else:  # JSON, followed by binary tensor data when the header says how long it is
        length = int(answer.headers.get("Inference-Header-Content-Length",
                                        len(answer.content)))
        json.loads(answer.content[:length])


def fuzz_rest(rest_url: str, rng: random.Random) -> None:
    cases = [fuzz.random_rest(rng) for _ in range(REST_CASES)]
    with concurrent.futures.ThreadPoolExecutor(WAVE) as pool:
        futures = [pool.submit(check_rest, rest_url + path, body) for path, body in cases]
        for index, ((path, body), future) in enumerate(zip(cases, futures, strict=True)):
            try:
                future.result()
            except AssertionError as e:
                raise AssertionError(f"REST case {index}: POST {path} {body[:300]!r}: {e}") from e


def fuzz_oip(rest_url: str, channel: grpc.Channel, rng: random.Random) -> None:
    """The Open Inference Protocol's adapters: REST (JSON and binary tensor data) and
    gRPC ModelInfer (typed contents and raw bytes)."""
    cases = [fuzz.random_oip_rest(rng) for _ in range(OIP_CASES)]
    with concurrent.futures.ThreadPoolExecutor(WAVE) as pool:
        futures = [pool.submit(check_rest, rest_url + path, body, headers)
                   for path, headers, body in cases]
        for index, (case, future) in enumerate(zip(cases, futures, strict=True)):
            try:
                future.result()
            except AssertionError as e:
                raise AssertionError(f"OIP REST case {index}: {case!r:.400}: {e}") from e
    fuzz_unary(channel, "/inference.GRPCInferenceService/ModelInfer",
               fuzz.random_infer_request, OIP_CASES, rng, "OIP gRPC")


def test_server_survives_fuzzed_requests(fuzzed):
    server, channel = fuzzed
    rng = random.Random(SEED)
    assert_still_serving(server, channel)
    rss_before = rss_bytes(server)
    fuzz_unary(channel, fuzz.PREDICT, fuzz.random_request, PROTO_CASES, rng, "proto")
    fuzz_bytes(channel, rng)
    fuzz_amplifiers(channel, rng)
    assert_still_serving(server, channel)
    fuzz_rest(server.rest_url, rng)
    assert_still_serving(server, channel)
    fuzz_oip(server.rest_url, channel, rng)
    assert_still_serving(server, channel)
    growth = rss_bytes(server) - rss_before
    assert growth < MAX_RSS_GROWTH_BYTES, f"RSS grew by {growth / 2**20:.0f} MiB"
    assert not [line for line in server.log if "Traceback" in line], "".join(server.log[-60:])
