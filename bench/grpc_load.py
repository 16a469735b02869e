"""gRPC Predict under h2load (64 streams and sequential) against the in-process rate,
a bare grpc.aio server, and KServe's Python model server.

    python bench/grpc_load.py [--repository model_repository] [--seconds 3]
                              [--kserve-python /work/venv-kserve/bin/python]
                              [--baseline /path/to/older/checkout]

Measures in one run, on one Fashion-MNIST PNG and the newest classifier (a quick one
is trained into artifacts/bench/ when the repository has none):
- in process: the serving_default signature at batch 1, and its best images/s over
  batches of 1..64;
- `tfstack serve` with `make up`'s batching flags, then without batching, each over
  TF Serving's Predict and the Open Inference Protocol's ModelInfer (raw contents);
- a bare grpc.aio server answering Predict with a fixed PredictResponse (the floor
  of Python gRPC: what the server would cost with no work at all);
- KServe's model server on the same SavedModel (bench/kserve_peer.py, v2 ModelInfer),
  when --kserve-python names a Python with kserve installed;
- with --baseline, `tfstack serve` of another checkout (`git worktree add DIR REV`),
  both ways, for this tree's rates over that one's in the same run.
Each is driven by `h2load -c 1 -m 64` (one connection, 64 concurrent streams) and
`-m 1` (sequential) with a gRPC-framed request body; every answer body is checked to
be an OK reply first, and `tfstack serve`'s request counter after. Prints req/s,
p50/p99 latency, the server's CPU ms per request, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# isort: off
from workload import classifier_root, best_batched_rate, in_process_signature, sample_pngs
# isort: on
import grpc
import numpy as np
import requests
import tensorflow as tf
from batching_rate import mean_batch
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess, free_port  # noqa: E402

PREDICT = "/tensorflow.serving.PredictionService/Predict"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
SERVING = Path(__file__).resolve().parents[1] / "serving"
MAKE_UP_BATCHING = ("--enable_batching", f"--batching_parameters_file={SERVING}/batching.config")
PEER = Path(__file__).resolve().parent / "kserve_peer.py"
STREAMS = (64, 1)
REPEATS = 3


@dataclasses.dataclass(frozen=True)
class Load:
    """One h2load run: answers per second, latency percentiles, server CPU."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_ms_per_request: float
    mean_batch: float | None = None  # of server-side batching, when on


def framed(message: bytes) -> bytes:
    """A gRPC message on the wire: not compressed, 4-byte big-endian length, bytes."""
    return b"\0" + len(message).to_bytes(4, "big") + message


def predict_request(png: bytes) -> bytes:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "classifier"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([png]))
    return request.SerializeToString()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def h2load(port: int, path: str, body: Path, streams: int, count: int, pid: int) -> Load:
    """`count` POSTs of `body` over one HTTP/2 connection, `streams` at a time."""
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log:
        used = cpu_seconds(pid)
        run = subprocess.run(
            ["h2load", "-n", str(count), "-c", "1", "-m", str(streams), "-d", str(body),
             "-H", "content-type: application/grpc", "-H", "te: trailers",
             "--log-file", log.name, f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True)
        used = cpu_seconds(pid) - used
        rows = np.loadtxt(log.name, ndmin=2)
    done = [line for line in run.stdout.splitlines() if line.startswith("requests:")]
    if not done or f"{count} succeeded" not in done[0]:
        sys.exit(f"h2load did not get {count} answers:\n{run.stdout}")
    rate = float(run.stdout.split(" req/s")[0].rsplit(" ", 1)[1])
    p50, p99 = np.percentile(rows[:, 2], [50, 99]) / 1000  # microseconds to ms
    return Load(rate, p50, p99, count, 1000 * used / count)


def drive(port: int, path: str, body: Path, pid: int, seconds: float, streams: int,
          repeats: int = REPEATS) -> Load:
    """A warm-up run, then `repeats` of about `seconds` each; the fastest of them
    (the one least slowed by whatever else the machine runs)."""
    warm = h2load(port, path, body, streams, max(4 * streams, 50), pid)
    count = int(min(max(warm.rate * seconds, 100), 50_000))
    return max((h2load(port, path, body, streams, count, pid) for _ in range(repeats)),
               key=lambda load: load.rate)


def drive_all(port: int, path: str, body: Path, pid: int, seconds: float) -> dict[int, Load]:
    return {streams: drive(port, path, body, pid, seconds, streams) for streams in STREAMS}


def answer_of(target: str, method: str, message: bytes, wait: float = 0.0) -> bytes:
    """The reply to `message` (raw bytes) once the server answers OK, within `wait`."""
    deadline = time.monotonic() + wait
    with grpc.insecure_channel(target) as channel:
        while True:
            try:
                return channel.unary_unary(method)(message, timeout=30)
            except grpc.RpcError as e:
                if time.monotonic() > deadline or e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.5)


def not_ok_requests(rest_url: str) -> int:
    """Requests `tfstack serve` answered with another status than OK, by its metrics."""
    text = requests.get(rest_url + "/monitoring/prometheus/metrics", timeout=30).text
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   if family.name == ":tensorflow:serving:request_count"
                   for sample in family.samples if sample.labels.get("status") != "OK"))


def infer_request(png: bytes) -> bytes:
    """The same image as an Open Inference Protocol ModelInfer, in raw_input_contents."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name="classifier")
    request.inputs.add(name="image_bytes", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(len(png).to_bytes(4, "little") + png)
    return request.SerializeToString()


def serve_tfstack(root: Path, flags: tuple[str, ...], bodies: dict[str, tuple[str, Path]],
                  seconds: float, checkout: Path | None = None,
                  ) -> tuple[dict[str, dict[int, Load]], bytes]:
    """`tfstack serve` of this tree, or of `checkout` (its `serving` package first),
    driven with each of `bodies` (protocol: gRPC method, framed body) in turn."""
    with ServerProcess("--model_name=classifier", f"--model_base_path={root}",
                       f"--rest_api_port={free_port()}",
                       f"--monitoring_config_file={SERVING}/monitoring.config",
                       *flags, cwd=str(checkout) if checkout else None) as server:
        reply = answer_of(server.target, PREDICT, bodies["predict"][1].read_bytes()[5:])
        port, rows = int(server.target.rsplit(":", 1)[1]), {}
        for protocol, (path, body) in bodies.items():
            answer_of(server.target, path, body.read_bytes()[5:])
            loads = rows[protocol] = {}
            for streams in STREAMS:
                load = drive(port, path, body, server.process.pid, seconds, streams)
                if flags and streams == STREAMS[0]:  # batches formed so far: under load
                    load = dataclasses.replace(load, mean_batch=mean_batch(server.rest_url))
                loads[streams] = load
        if not_ok_requests(server.rest_url):
            sys.exit(f"tfstack serve {' '.join(flags)} answered some requests with errors")
    return rows, reply


def serve_echo(reply_file: str) -> None:
    """The bare grpc.aio server: parses each PredictRequest, answers a fixed reply."""
    reply = predict_pb2.PredictResponse.FromString(Path(reply_file).read_bytes())

    async def predict(request, context):
        return reply

    async def run() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "tensorflow.serving.PredictionService", {"Predict": grpc.unary_unary_rpc_method_handler(
                predict, request_deserializer=predict_pb2.PredictRequest.FromString,
                response_serializer=predict_pb2.PredictResponse.SerializeToString)}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(run())


def echo_loads(reply: bytes, body: Path, scratch: Path, seconds: float) -> dict[int, Load]:
    (scratch / "reply.bin").write_bytes(reply)
    with subprocess.Popen([sys.executable, __file__, "--serve-echo", str(scratch / "reply.bin")],
                          stdout=subprocess.PIPE, text=True) as echo:
        port = int(echo.stdout.readline())
        answer_of(f"127.0.0.1:{port}", PREDICT, body.read_bytes()[5:])
        loads = drive_all(port, PREDICT, body, echo.pid, seconds)
        echo.terminate()
    return loads


def kserve_loads(python: str, version_dir: Path, png: Path, scratch: Path,
                 seconds: float) -> dict[int, Load] | str:
    """KServe's rates, or why they could not be measured."""
    if not Path(python).is_file():
        return f"no {python}; see bench/kserve_peer.py for its venv (--kserve-python)"
    body = scratch / "infer.bin"
    made = subprocess.run([python, str(PEER), "request", "--image", str(png), "--out", str(body)],
                          capture_output=True, text=True)
    if made.returncode:
        return made.stderr.strip().splitlines()[-1]
    port = free_port()
    with open(scratch / "kserve.log", "w") as log, subprocess.Popen(
            [python, str(PEER), "serve", "--model-dir", str(version_dir), "--grpc-port",
             str(port), "--http-port", str(free_port())], stdout=log, stderr=log) as peer:
        try:
            answer_of(f"127.0.0.1:{port}", "/inference.GRPCInferenceService/ModelInfer",
                      body.read_bytes()[5:], wait=180)
            return drive_all(port, "/inference.GRPCInferenceService/ModelInfer", body,
                             peer.pid, seconds)
        except grpc.RpcError as e:
            return f"KServe did not answer: {e.code().name} {e.details()} (see {log.name})"
        finally:
            peer.terminate()


def in_process_rates(root: Path, version: int, png: bytes) -> tuple[float, float, float, int]:
    """Batch-1 calls/s and CPU ms per call; best batched images/s and its batch size;
    each the best of REPEATS, as the servers' rates are."""
    signature = in_process_signature(root, version)
    for _ in range(20):
        signature(image_bytes=tf.constant([png]))
    single, cpu_ms = 0.0, 0.0
    for _ in range(REPEATS):
        calls, started, cpu = 200, time.perf_counter(), time.process_time()
        for _ in range(calls):
            signature(image_bytes=tf.constant([png]))
        rate = calls / (time.perf_counter() - started)
        if rate > single:
            single, cpu_ms = rate, 1000 * (time.process_time() - cpu) / calls
    batched = max(best_batched_rate(signature, [png] * 512, sizes=(1, 2, 4, 8, 16, 32, 64))
                  for _ in range(REPEATS))
    return single, cpu_ms, *batched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measured h2load run")
    parser.add_argument("--kserve-python", default="/work/venv-kserve/bin/python")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout whose server to measure beside this one")
    parser.add_argument("--serve-echo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo(args.serve_echo)
        return 0
    root, version = classifier_root(args.repository)
    root = root.resolve()  # TF Serving wants an absolute base_path
    png = sample_pngs(1)[0]
    single, model_cpu_ms, batched, best_size = in_process_rates(root, version, png)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        body = scratch / "predict.bin"
        body.write_bytes(framed(predict_request(png)))
        body_bytes = body.stat().st_size
        (scratch / "image.png").write_bytes(png)
        infer = scratch / "infer.bin"
        infer.write_bytes(framed(infer_request(png)))
        both = {"predict": (PREDICT, body), "oip": (MODEL_INFER, infer)}
        rows = {}
        for way, flags in (("batching", MAKE_UP_BATCHING), ("no batching", ())):
            served, reply = serve_tfstack(root, flags, both, args.seconds)
            rows[f"tfstack, {way}"], rows[f"tfstack OIP, {way}"] = (
                served["predict"], served["oip"])
            if args.baseline:
                rows[f"baseline, {way}"] = serve_tfstack(
                    root, flags, {"predict": both["predict"]}, args.seconds,
                    args.baseline)[0]["predict"]
        rows["grpc.aio echo"] = echo_loads(reply, body, scratch, args.seconds)
        peer = kserve_loads(args.kserve_python, root / str(version), scratch / "image.png",
                            scratch, args.seconds)
        if isinstance(peer, dict):
            rows["KServe v2"] = peer
    report(rows, single, model_cpu_ms, batched, best_size, body_bytes, version,
           peer if isinstance(peer, str) else None)
    return 0


def report(rows: dict[str, dict[int, Load]], single: float, model_cpu_ms: float,
           batched: float, best_size: int, body_bytes: int, version: int,
           peer_missing: str | None) -> None:
    print(f"classifier version {version}, one {body_bytes}-byte Predict body, "
          "h2load -c 1 -m 64 / -m 1")
    print(f"in-process batch 1     {single:8.1f} calls/s   {model_cpu_ms:5.2f} CPU ms/call")
    print(f"in-process best batch  {batched:8.1f} images/s  (batch {best_size})")
    print(f"{'server':26} {'streams':>7} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'CPU ms/req':>10} {'batch':>6}")
    for name, loads in rows.items():
        for streams, load in loads.items():
            batch = f"{load.mean_batch:6.1f}" if load.mean_batch else ""
            print(f"{name:26} {streams:7d} {load.rate:9.1f} {load.p50_ms:7.2f} "
                  f"{load.p99_ms:7.2f} {load.cpu_ms_per_request:10.2f} {batch}")
    if peer_missing:
        print(f"{'KServe v2':26} not measured: {peer_missing}")
    print("ratios (same run)")
    for name in ("tfstack, batching", "tfstack, no batching", "tfstack OIP, batching",
                 "tfstack OIP, no batching", "KServe v2"):
        if name in rows:
            wide, one = rows[name][64].rate / batched, rows[name][1].rate / single
            print(f"  {name:20}  64 streams / in-process best batch {wide:5.2f}"
                  f"   sequential / in-process batch 1 {one:5.2f}")
    for way in ("batching", "no batching"):
        oip, tf_serving = rows[f"tfstack OIP, {way}"], rows[f"tfstack, {way}"]
        print(f"  OIP / TF Serving API, {way:12} 64 streams "
              f"{oip[64].rate / tf_serving[64].rate:5.2f}   sequential "
              f"{oip[1].rate / tf_serving[1].rate:5.2f}")
        if f"baseline, {way}" in rows:
            now, then = rows[f"tfstack, {way}"], rows[f"baseline, {way}"]
            print(f"  tfstack / baseline, {way:12}  64 streams {now[64].rate / then[64].rate:5.2f}"
                  f"   sequential {now[1].rate / then[1].rate:5.2f}")
    if "KServe v2" in rows:
        for name in ("tfstack, batching", "tfstack, no batching", "tfstack OIP, batching",
                     "tfstack OIP, no batching"):
            print(f"  {name:20}  / KServe v2: 64 streams "
                  f"{rows[name][64].rate / rows['KServe v2'][64].rate:5.2f}   sequential "
                  f"{rows[name][1].rate / rows['KServe v2'][1].rate:5.2f}")


if __name__ == "__main__":
    sys.exit(main())
