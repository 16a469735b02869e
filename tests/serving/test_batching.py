"""Dynamic batching: merged runs, exact per-caller rows, padding, a bounded queue,
and bad requests that fail alone."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from serving.batching import Batcher, BatchingOptions, _merge
from serving.errors import InvalidArgument, ResourceExhausted
from serving.servable import load_servable
from tests.messages import png
from tests.serving.conftest import write_doubler
from tests.serving.test_shutdown_and_limits import Spinner


@pytest.fixture(scope="module")
def servable(tmp_path_factory):
    path = write_doubler(tmp_path_factory.mktemp("batching") / "1")
    return load_servable("doubler", 1, path)


def run_concurrently(options: BatchingOptions, servable, requests, signature="serving_default"):
    """Submits every request at once; returns (results or errors, batch sizes seen)."""
    sizes = []

    async def main():
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            batcher = Batcher(options, pool, lambda s, sig, n: sizes.append(n))
            return await asyncio.gather(
                *(batcher.submit(servable, signature, inputs) for inputs in requests),
                return_exceptions=True)

    return asyncio.run(main()), sizes


def test_concurrent_requests_are_merged_and_split_back_exactly(servable):
    requests = [{"x": np.full((i % 3 + 1, 2), i, np.float32)} for i in range(12)]
    results, sizes = run_concurrently(
        BatchingOptions(max_batch_size=64, batch_timeout_micros=20_000), servable, requests)
    for i, (request, result) in enumerate(zip(requests, results, strict=True)):
        np.testing.assert_array_equal(result["y"], request["x"] * 2)
        np.testing.assert_array_equal(result["total"], np.full(i % 3 + 1, 2.0 * i))
    assert sum(sizes) == sum(len(r["x"]) for r in requests)
    assert max(sizes) > 3  # several requests ran as one batch


def test_batches_are_padded_to_allowed_sizes(servable):
    requests = [{"x": np.ones((1, 2), np.float32)} for _ in range(3)]
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=20_000,
                              allowed_batch_sizes=(4, 8))
    results, sizes = run_concurrently(options, servable, requests)
    assert sizes == [4]
    assert [len(r["y"]) for r in results] == [1, 1, 1]


def test_full_queue_is_resource_exhausted(servable):
    requests = [{"x": np.ones((2, 2), np.float32)} for _ in range(3)]
    options = BatchingOptions(max_batch_size=2, batch_timeout_micros=50_000,
                              max_enqueued_batches=1, num_batch_threads=1)
    results, _ = run_concurrently(options, servable, requests)
    assert isinstance(results[0], dict)
    assert isinstance(results[1], ResourceExhausted)
    assert "queue to which this task was submitted is full" in str(results[1])


def test_oversized_request_is_rejected_with_the_limit(servable):
    results, _ = run_concurrently(BatchingOptions(max_batch_size=4), servable,
                                  [{"x": np.ones((5, 2), np.float32)}])
    assert isinstance(results[0], InvalidArgument)
    assert "larger than maximum batch size 4" in str(results[0])


def test_a_bad_request_fails_alone(servable):
    good = png(np.zeros((3, 5, 1)))
    requests = [{"image": np.array([good], dtype=object)},
                {"image": np.array([b"not a png"], dtype=object)},
                {"image": np.array([good, good], dtype=object)}]
    results, _ = run_concurrently(BatchingOptions(batch_timeout_micros=20_000), servable,
                                  requests, signature="decode")
    assert results[0]["shape"].tolist() == [[3, 5, 1]]
    assert isinstance(results[1], InvalidArgument)
    assert results[2]["shape"].tolist() == [[3, 5, 1], [3, 5, 1]]


def test_variable_length_inputs_are_padded_when_asked():
    merged = _merge([np.ones((1, 2)), np.ones((2, 3))], pad=True)
    assert merged.shape == (3, 3)
    assert merged[0].tolist() == [1, 1, 0]
    strings = _merge([np.array([[b"a"]], dtype=object),
                      np.array([[b"b", b"c"]], dtype=object)], pad=True)
    assert strings.tolist() == [[b"a", b""], [b"b", b"c"]]


def test_options_file_in_tf_serving_format(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\n"
                    "num_batch_threads { value: 2 }\nallowed_batch_sizes: 16\n"
                    "allowed_batch_sizes: 64\n")
    options = BatchingOptions.from_file(path)
    assert (options.max_batch_size, options.batch_timeout_micros, options.num_batch_threads,
            options.allowed_batch_sizes, options.max_enqueued_batches) == (64, 1000, 2,
                                                                          (16, 64), 10)
    path.write_text("allowed_batch_sizes: 16\nmax_batch_size { value: 64 }\n"
                    "allowed_batch_sizes: 32\n")
    with pytest.raises(ValueError, match="must increase and end with max_batch_size"):
        BatchingOptions.from_file(path)
    path.write_text("max_batch_size: 64\n")
    with pytest.raises(ValueError, match="Error parsing text-format "
                                         "tensorflow.serving.BatchingParameters"):
        BatchingOptions.from_file(path)


def test_server_with_batching_answers_concurrent_grpc_callers(tmp_path):
    import grpc
    import requests
    import tensorflow as tf
    from prometheus_client.parser import text_string_to_metric_families
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from serving.config import ServerConfig, model_configs
    from serving.metrics import DEFAULT_PATH
    from serving.repository import ModelRepository
    from tests.messages import predict_request
    from tests.serving.conftest import InProcessServer

    write_doubler(tmp_path / "1")
    models = model_configs(ServerConfig(model_name="m", model_base_path=str(tmp_path)))
    options = BatchingOptions(max_batch_size=16, batch_timeout_micros=5_000)
    with InProcessServer(ModelRepository(models), batching=options) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)

        def call(i: int) -> np.ndarray:
            request = predict_request("m", {"x": np.array([[i, -i]], np.float32)})
            return tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])

        with concurrent.futures.ThreadPoolExecutor(16) as callers:
            answers = list(callers.map(call, range(48)))
        bad = predict_request("m", {"x": np.ones((17, 2), np.float32)})
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(bad, timeout=30)
        scraped = requests.get(server.rest_url + DEFAULT_PATH, timeout=30).text
    assert [a.tolist() for a in answers] == [[[2.0 * i, -2.0 * i]] for i in range(48)]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [family] = [f for f in text_string_to_metric_families(scraped)
                if f.name == ":tensorflow:serving:batch_size"]
    totals = {s.name: s.value for s in family.samples if "le" not in s.labels}
    assert totals[":tensorflow:serving:batch_size_sum"] == 48  # every row ran exactly once
    assert totals[":tensorflow:serving:batch_size_count"] < 48  # in fewer, larger runs


def test_each_queue_has_its_own_limit(servable):
    """TF Serving bounds max_enqueued_batches per queue (one per servable and signature,
    batching_session.cc), so a busy signature cannot starve another."""
    options = BatchingOptions(max_batch_size=2, batch_timeout_micros=50_000,
                              max_enqueued_batches=1, num_batch_threads=1)
    x = {"x": np.ones((2, 2), np.float32)}
    text = {"text": np.array([b"a", b"b"], dtype=object)}
    sizes = []

    async def main():
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            batcher = Batcher(options, pool, lambda s, sig, n: sizes.append(n))
            return await asyncio.gather(batcher.submit(servable, "serving_default", x),
                                        batcher.submit(servable, "shout", text),
                                        batcher.submit(servable, "serving_default", x),
                                        return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[0], dict) and results[1]["upper"].tolist() == [b"A", b"B"]
    assert isinstance(results[2], ResourceExhausted)
    assert "signature 'serving_default'" in str(results[2])


def test_one_bad_request_in_a_big_batch_reruns_by_halves(servable):
    good, bad = png(np.zeros((3, 5, 1))), b"not a png"
    requests = [{"image": np.array([bad if i == 5 else good], dtype=object)} for i in range(16)]
    sizes = []

    async def main():
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            batcher = Batcher(BatchingOptions(batch_timeout_micros=20_000), pool,
                              lambda s, sig, n: sizes.append(n))
            return await asyncio.gather(*(batcher.submit(servable, "decode", r)
                                          for r in requests), return_exceptions=True)

    results = asyncio.run(main())
    assert [isinstance(r, InvalidArgument) for r in results] == [i == 5 for i in range(16)]
    assert all(r["shape"].tolist() == [[3, 5, 1]] for i, r in enumerate(results) if i != 5)
    # 16, then 8+8, 4+4, 2+2, 1+1: 9 runs; rerunning each alone would take 17
    assert len(sizes) <= 1 + 2 * 4


class Exploding:
    """A servable that refuses batches as bad input, and whose graph raises something
    that is not a ServingError when a request is rerun alone."""

    name, version = "exploding", 1

    def run(self, signature, inputs, outputs=(), timeout_ms=None):
        if len(inputs["x"]) > 1:
            raise InvalidArgument("batch refused")
        raise MemoryError("out of memory in the graph")


def test_every_caller_gets_an_answer_whatever_the_batch_raises():
    requests = [{"x": np.ones((1, 2), np.float32)} for _ in range(5)]
    results, _ = run_concurrently(BatchingOptions(batch_timeout_micros=10_000), Exploding(),
                                  requests)
    assert all(type(r).__name__ == "Internal" and "MemoryError" in str(r) for r in results)


def test_batches_whose_callers_gave_up_leave_the_queue_unrun(servable):
    options = BatchingOptions(max_batch_size=2, max_enqueued_batches=2, num_batch_threads=1)
    two = {"x": np.ones((2, 2), np.float32)}
    sizes = []

    async def main(gate: threading.Event):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(gate.wait)  # the one thread is busy: batches wait for it
            batcher = Batcher(options, pool, lambda s, sig, n: sizes.append(n))
            first = asyncio.create_task(batcher.submit(servable, "serving_default", two))
            while not sizes and batcher.queue_depth == 0:  # until it is queued...
                await asyncio.sleep(0)
            while batcher.queue_depth:  # ...and taken by the batch thread
                await asyncio.sleep(0)
            gone = [asyncio.create_task(batcher.submit(servable, "serving_default", two))
                    for _ in range(2)]
            while batcher.queue_depth < 2:
                await asyncio.sleep(0)
            with pytest.raises(ResourceExhausted):  # the queue is full
                await batcher.submit(servable, "serving_default", two)
            for task in gone:
                task.cancel()
            await asyncio.gather(*gone, return_exceptions=True)
            depth = batcher.queue_depth  # dropped at once, not when a thread frees
            later = asyncio.create_task(batcher.submit(servable, "serving_default", two))
            gate.set()
            return depth, await first, await later

    gate = threading.Event()
    try:
        depth, first, later = asyncio.run(main(gate))
    finally:
        gate.set()
    assert depth == 0
    assert first["y"].tolist() == later["y"].tolist() == [[2.0, 2.0]] * 2
    assert sizes == [2, 2]  # the abandoned batches never ran


def test_a_running_batch_stops_at_the_latest_deadline_of_its_callers(tmp_path):
    module = Spinner()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.spin})
    spinner = load_servable("spin", 1, tmp_path / "1")
    timeouts = []
    run = spinner.run

    def recorded_run(signature, inputs, outputs=(), timeout_ms=None):
        timeouts.append(timeout_ms)
        return run(signature, inputs, outputs, timeout_ms)

    spinner.run = recorded_run
    steps = {"steps": np.array([4_000_000])}  # ~10 s

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = Batcher(BatchingOptions(batch_timeout_micros=50_000), pool)
            now = time.monotonic()
            return await asyncio.gather(
                batcher.submit(spinner, "serving_default", steps, deadline=now + 0.1),
                batcher.submit(spinner, "serving_default", steps, deadline=now + 0.3),
                return_exceptions=True)

    results = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["DeadlineExceeded"] * 2
    assert len(timeouts) == 1 and 0 < timeouts[0] <= 300  # one run, to the later deadline
