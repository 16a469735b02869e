"""Bounded everything: admission per model and signature, gRPC's concurrent-call cap,
metric labels the caller cannot invent, small work inline by rows, and a shutdown in
the order a load balancer expects."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.config import ServerConfig, model_configs
from serving.dataplane import DataPlane, Request, RequestLimits
from serving.deadlines import set_deadline
from serving.errors import DeadlineExceeded, ResourceExhausted
from serving.fairness import CALLER
from serving.metrics import DEFAULT_PATH
from serving.repository import ModelRepository
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.test_shutdown_and_limits import Spinner


def spin(dataplane: DataPlane, inputs: dict):
    """A Predict of `spin` along the data plane's one request path."""
    return dataplane.infer(Request("spin", None, None, "", lambda *_: inputs))


@pytest.fixture(scope="module")
def spinner_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("spin")
    module = Spinner()
    tf.saved_model.save(module, str(root / "1"), signatures={"serving_default": module.spin})
    return root


def test_a_full_signature_is_resource_exhausted_and_others_still_run(spinner_root):
    repository = ModelRepository(model_configs(ServerConfig(
        model_name="spin", model_base_path=str(spinner_root))))
    repository.poll()
    dataplane = DataPlane(repository, max_threads=4,
                          limits=RequestLimits(max_in_flight_per_signature=2))
    slow = {"steps": np.array([400_000, 0])}  # first runs: on the thread pool

    async def main():
        running = [asyncio.create_task(spin(dataplane, slow))
                   for _ in range(2)]
        while dataplane._in_flight.get(("spin", "serving_default"), 0) < 2:
            await asyncio.sleep(0)  # both admitted
        with pytest.raises(ResourceExhausted, match="2 requests to spin signature "
                                                    "'serving_default' are already in flight"):
            await spin(dataplane, {"steps": np.array([1])})
        await asyncio.gather(*running)
        # admitted again once they finished
        return (await spin(dataplane, {"steps": np.array([1])})).outputs

    outputs = asyncio.run(main())
    dataplane.close()
    assert outputs["counted"].tolist() == [1]


def test_a_caller_who_gives_up_holds_its_slot_until_its_graph_ends_at_the_deadline(
        spinner_root):
    repository = ModelRepository(model_configs(ServerConfig(
        model_name="spin", model_base_path=str(spinner_root))))
    repository.poll()
    dataplane = DataPlane(repository, max_threads=1)
    key = ("spin", "serving_default")
    started, jobs, held_at_end = threading.Event(), [], []
    submit = dataplane._pool.submit

    def observed_submit(fn, *args):  # the real pool; we learn when a job starts and ends
        def job():
            started.set()
            try:
                return fn(*args)
            finally:
                held_at_end.append(dataplane._in_flight[key])
        jobs.append(submit(job))
        return jobs[-1]

    dataplane._pool.submit = observed_submit

    async def call(caller: str):  # two connections, one thread
        CALLER.set(caller)
        set_deadline(0.5)  # as a gRPC deadline sets it
        return await spin(dataplane, {"steps": np.array([4_000_000])})  # ~10 s

    async def main():
        running = asyncio.create_task(call("first"))
        assert await asyncio.to_thread(started.wait, 60)  # its graph runs on the one thread
        queued = asyncio.create_task(call("second"))  # waits for a thread
        while not dataplane._fair.waiting("second"):
            await asyncio.sleep(0)
        running.cancel()
        queued.cancel()
        await asyncio.gather(running, queued, return_exceptions=True)
        assert dataplane._in_flight[key] == 1  # the running graph still holds its slot
        with pytest.raises(DeadlineExceeded):
            await asyncio.wrap_future(jobs[0])  # stopped at the deadline, not run 10 s
        while dataplane._in_flight[key]:  # freed once the graph has ended
            await asyncio.sleep(0)

    asyncio.run(main())
    assert held_at_end == [1]  # the slot was still taken while the graph ran
    assert len(jobs) == 1 and not dataplane._fair.waiting("second")  # never started
    dataplane.close()


def test_one_connection_cannot_take_every_thread(spinner_root):
    repository = ModelRepository(model_configs(ServerConfig(
        model_name="spin", model_base_path=str(spinner_root))))
    repository.poll()
    dataplane = DataPlane(repository, max_threads=2)  # a connection's share: 1 while
    # others wait
    submitted = []  # the caller of each job handed to the (real) pool, in order
    submit = dataplane._pool.submit

    def recording_submit(fn, *args):
        submitted.append(CALLER.get())
        return submit(fn, *args)

    dataplane._pool.submit = recording_submit

    async def call(caller: str, steps: int):
        CALLER.set(caller)
        return (await spin(dataplane, {"steps": np.array([steps])})).outputs["counted"]

    async def main():
        heavy = [asyncio.create_task(call("heavy", 300_000)) for _ in range(3)]
        while len(submitted) < 2 or dataplane._fair.waiting("heavy") < 1:
            await asyncio.sleep(0)  # alone, heavy takes both threads; its third waits
        light = await call("light", 1)  # the next free thread: before heavy's third
        return light, await asyncio.gather(*heavy)

    light, heavy = asyncio.run(main())
    assert light.tolist() == [1] and [h.tolist() for h in heavy] == [[300_000]] * 3
    assert submitted == ["heavy", "heavy", "light", "heavy"]
    assert not dataplane._fair.running and not dataplane._fair.waiting("heavy")
    dataplane.close()


def test_only_small_lone_requests_to_fast_signatures_run_inline(spinner_root):
    repository = ModelRepository(model_configs(ServerConfig(
        model_name="spin", model_base_path=str(spinner_root))))
    repository.poll()
    dataplane = DataPlane(repository, limits=RequestLimits(inline_bytes=64))
    key = ("spin", 1, "serving_default")
    tiny = {"steps": np.array([1])}

    async def predict(inputs):
        return (await spin(dataplane, inputs)).outputs["counted"]

    dataplane._in_flight[("spin", "serving_default")] = 1  # this request alone
    for _ in range(2):  # the first traces, the second is timed: both on a thread
        assert not dataplane._runs_inline(key, tiny)
        assert asyncio.run(predict(tiny)).tolist() == [1]
    assert dataplane._runs_inline(key, tiny)  # its timed run was fast
    assert not dataplane._runs_inline(key, {"steps": np.zeros(9, np.int64)})  # 72 bytes
    assert not dataplane._runs_inline(key, {"text": np.array([b"x" * 65], dtype=object)})
    dataplane._in_flight[("other", "serving_default")] = 1
    assert not dataplane._runs_inline(key, tiny)  # not alone
    del dataplane._in_flight[("other", "serving_default")]
    pooled, submit = [], dataplane._pool.submit
    dataplane._pool.submit = lambda fn, *args: pooled.append(fn) or submit(fn, *args)
    # ~1 s, lone and small to a fast signature: it starts on the loop, is stopped there
    # after inline_max_seconds (0.1) and runs again, to its end, on a graph thread
    assert asyncio.run(predict({"steps": np.array([400_000])})).tolist() == [400_000]
    assert len(pooled) == 1
    assert not dataplane._runs_inline(key, tiny)  # seen slow: on a thread for a while
    dataplane.close()


def test_metric_labels_are_limited_to_served_names(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    for name in ("random-1", "random-2", "random-3"):
        with pytest.raises(grpc.RpcError):
            stub.Predict(predict_request(name, {"x": np.ones((1, 2), np.float32)}), timeout=10)
    with pytest.raises(grpc.RpcError):
        stub.Predict(predict_request("doubler", {"x": np.ones((1, 2), np.float32)},
                                     signature="made-up-signature"), timeout=10)
    scraped = requests.get(server.rest_url + DEFAULT_PATH, timeout=30).text
    [family] = [f for f in text_string_to_metric_families(scraped)
                if f.name == ":tensorflow:serving:request_count"]
    models = {s.labels["model_name"] for s in family.samples}
    signatures = {s.labels["signature"] for s in family.samples}
    assert not {"random-1", "random-2", "random-3"} & models
    assert "<unknown>" in models and "made-up-signature" not in signatures
    assert "<unknown>" in signatures


def test_grpc_caps_concurrent_calls(spinner_root, tmp_path):
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    with ServerProcess("--model_name=spin", f"--model_base_path={spinner_root}",
                       "--grpc_max_concurrent_rpcs=2", f"--rest_api_port={free_port()}",
                       f"--monitoring_config_file={monitoring}") as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(server.target))
        slow = predict_request("spin", {"steps": np.array([600_000, 0])})  # not inline
        calls = [stub.Predict.future(slow, timeout=60) for _ in range(2)]
        deadline = time.monotonic() + 60
        while in_flight(server) < 2:  # both admitted: two RPCs running
            assert time.monotonic() < deadline and not any(c.done() for c in calls)
            time.sleep(0.01)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("spin", {"steps": np.array([1])}), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [tf.make_ndarray(c.result().outputs["counted"]).tolist() for c in calls] == \
            [[600_000] * 2] * 2


def in_flight(server: ServerProcess) -> float:
    text = requests.get(server.rest_url + DEFAULT_PATH, timeout=30).text
    return next(s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == ":tensorflow:serving:requests_in_flight")


def test_sigterm_goes_not_serving_then_drains_then_stops(spinner_root):
    with ServerProcess("--model_name=spin", f"--model_base_path={spinner_root}",
                       "--drain_seconds=3", "--grace_period_seconds=30") as server:
        channel = grpc.insecure_channel(server.target)
        health = health_pb2_grpc.HealthStub(channel)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = health_pb2.HealthCheckRequest(service="")
        assert health.Check(request, timeout=10).status == health_pb2.HealthCheckResponse.SERVING
        server.terminate()
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:
            status = health.Check(request, timeout=10).status
            if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                # draining: health says go away, yet calls are still answered
                seen.append(stub.Predict(predict_request("spin", {"steps": np.array([3])}),
                                         timeout=10))
        assert seen and seen[0].outputs["counted"].int64_val == [3]
        assert server.stop() == 0


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = threading.active_count()
    yield
    assert threading.active_count() <= before + 8
