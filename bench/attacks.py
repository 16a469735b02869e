"""The request-side attacks of issue 36 against a live `tfstack serve`, with what each
costs the server: CPU seconds, resident memory over what it held before (sampled every
10 ms), how it was answered, and whether a probe client beside it kept getting answers.

    python bench/attacks.py [--only NAME ...]

The server serves test-sized models that are not ours (a doubler with a string
signature, a TF1 Classify model, a graph loop that takes a while) with its default
limits, except a 3 s --rest_api_timeout_in_ms and --receive_timeout_seconds and a 2 s
--header_timeout_seconds, so stalled peers are cut within the run.
"""

from __future__ import annotations

import argparse
import collections
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.launcher import ServerProcess, free_port  # noqa: E402
from tests.serving.conftest import write_doubler, write_example_model  # noqa: E402
from tests.serving.test_shutdown_and_limits import Spinner  # noqa: E402


class Watch:
    """Samples the server's RSS and counts a probe's answers while an attack runs."""

    def __init__(self, server: ServerProcess, stub):
        self.server, self.stub = server, stub
        self.peak = self.base = _rss(server)
        self.probes = collections.Counter()
        self._done = threading.Event()

    def __enter__(self) -> "Watch":
        self.cpu = _cpu(self.server)
        self._threads = [threading.Thread(target=self._sample), threading.Thread(
            target=self._probe)]
        for thread in self._threads:
            thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, _rss(self.server))

    def _probe(self) -> None:
        request = _predict("doubler", "", "x", tf.make_tensor_proto(np.ones((1, 2), np.float32)))
        while not self._done.wait(0.25):
            try:
                self.stub.Predict(request, timeout=2)
                self.probes["answered"] += 1
            except grpc.RpcError as e:
                self.probes[e.code().name] += 1

    def __exit__(self, *exc) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join()
        self.cpu = _cpu(self.server) - self.cpu


def _rss(server: ServerProcess) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1]) * 1024


def _cpu(server: ServerProcess) -> float:
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _predict(model: str, signature: str, key: str, proto) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    request.inputs[key].CopyFrom(proto)
    return request


def _strings(declared: int, value: bytes) -> predict_pb2.PredictRequest:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[value])
    proto.tensor_shape.dim.add(size=declared)
    return _predict("doubler", "shout", "text", proto)


def _grpc(stub, request, method="Predict", **kwargs) -> str:
    try:
        getattr(stub, method)(request, timeout=kwargs.pop("timeout", 60), **kwargs)
        return "OK"
    except grpc.RpcError as e:
        return f"{e.code().name}: {e.details()[:70]}"


def string_fill(server, stub):
    return _grpc(stub, _strings(1_000_000, b""))


def string_repeat(server, stub):
    return _grpc(stub, _strings(2000, b"x" * (1 << 20)))


def context_copies(server, stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "examples"
    with_context = request.input.example_list_with_context
    with_context.context.features.feature["pad"].bytes_list.value.append(b"p" * 1_050_000)
    for _ in range(1000):
        with_context.examples.add().features.feature["x"].float_list.value.append(1.0)
    return _grpc(stub, request, "Classify")


def large_sentence(server, stub):
    text = np.array([b"word " * 12_000_000], dtype=object)  # 60 MB, one row
    return _grpc(stub, _predict("doubler", "shout", "text", tf.make_tensor_proto(text)))


def many_keys(server, stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "doubler"
    one = tf.make_tensor_proto(np.ones((1, 2), np.float32))
    for i in range(300_000):
        request.inputs[f"k{i}"].CopyFrom(one)
    return _grpc(stub, request)


def empty_arrays(server, stub):
    body = b'{"instances": [' + b",".join([b"[]"] * 20_000_000) + b"]}"
    answer = requests.post(f"{server.rest_url}/v1/models/doubler:predict", data=body,
                           timeout=120)
    return f"HTTP {answer.status_code}: {answer.text[:70]}"


def abandoned(server, stub):
    request = _predict("spin", "", "steps", tf.make_tensor_proto(np.array([1_000_000] * 2)))
    codes = collections.Counter(_grpc(stub, request, timeout=1).split(":")[0]
                                for _ in range(8))
    return dict(codes)


def flood(server, stub):
    channels = [grpc.insecure_channel(server.target) for _ in range(10)]
    request = _predict("spin", "", "steps", tf.make_tensor_proto(np.array([20_000])))
    futures = [prediction_service_pb2_grpc.PredictionServiceStub(channels[i % 10]).Predict
               .future(request, timeout=60) for i in range(5000)]
    codes = collections.Counter()
    for future in futures:
        try:
            future.result()
            codes["OK"] += 1
        except grpc.RpcError as e:
            codes[e.code().name] += 1
    return dict(codes)


def stalled_uploads(server, stub):
    import h2.config
    import h2.connection
    import h2.events

    host, port = server.target.split(":")
    connections = []
    for _ in range(100):
        connection = socket.create_connection((host, int(port)), timeout=30)
        http2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        http2.initiate_connection()
        http2.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", host),
                               (":path", "/tensorflow.serving.PredictionService/Predict"),
                               ("content-type", "application/grpc"), ("te", "trailers")])
        connection.sendall(http2.data_to_send())
        declared = 60 * 1024 * 1024
        http2.send_data(1, b"\0" + declared.to_bytes(4, "big"))
        while http2.local_flow_control_window(1) > 16384:  # send what the window takes
            chunk = min(http2.local_flow_control_window(1) - 1, 16384, declared - 1)
            http2.send_data(1, b"\0" * chunk)
            declared -= chunk
        connection.sendall(http2.data_to_send())
        connections.append((connection, http2))
    ended = 0
    for connection, http2 in connections:
        events = http2.receive_data(connection.recv(65536) or b"")
        while not any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                      for e in events):
            data = connection.recv(65536)
            if not data:
                break
            events = http2.receive_data(data)
        ended += 1
        connection.close()
    return f"{ended} of 100 stalled uploads ended by the server"


def slowloris(server, stub):
    host, port = server.rest_url.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port)), timeout=30) for _ in range(200)]
    for each in sockets:
        each.sendall(b"POST /v1/models/doubler:predict HTTP/1.1\r\nHost: x\r\n")
    closed = sum(each.recv(1) == b"" for each in sockets)
    for each in sockets:
        each.close()
    return f"{closed} of 200 half-sent requests closed by the server"


ATTACKS = [string_fill, string_repeat, context_copies, large_sentence, many_keys,
           empty_arrays, abandoned, flood, stalled_uploads, slowloris]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="attack names to run (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        write_doubler(root / "doubler" / "1")
        write_example_model(root / "examples" / "1")
        spinner = Spinner()
        tf.saved_model.save(spinner, str(root / "spin" / "1"),
                            signatures={"serving_default": spinner.spin})
        config = root / "models.config"
        config.write_text("model_config_list {\n" + "".join(
            f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: '
            '"tensorflow" }\n' for name in ("doubler", "examples", "spin")) + "}\n")
        with ServerProcess(f"--model_config_file={config}", f"--rest_api_port={free_port()}",
                           "--rest_api_timeout_in_ms=3000", "--receive_timeout_seconds=3",
                           "--header_timeout_seconds=2") as server:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(server.target))
            print(f"idle: {_rss(server) / 2**20:.0f} MiB resident\n")
            print(f"{'attack':16s} {'wall s':>7s} {'CPU s':>6s} {'+MiB':>6s}  probe      answer")
            for attack in ATTACKS:
                if args.only and attack.__name__ not in args.only:
                    continue
                started = time.monotonic()
                with Watch(server, stub) as watch:
                    answer = attack(server, stub)
                probes = ", ".join(f"{k} {v}" for k, v in watch.probes.items()) or "-"
                print(f"{attack.__name__:16s} {time.monotonic() - started:7.1f} "
                      f"{watch.cpu:6.1f} {(watch.peak - watch.base) / 2**20:6.0f}  "
                      f"{probes:10s} {answer}")


if __name__ == "__main__":
    main()
