"""Every flag of TF Serving's `tensorflow_model_server` is accepted with its name, default
and meaning (tensorflow/serving: model_servers/main.cc, defaults in server.h), and those
this server acts on do what TF Serving does with them (model_servers/server.cc)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from serving.cli import NO_EFFECT, build_parser, config_from_args, flags_without_effect
from serving.config import ConfigError, ServerConfig, model_configs, schedulable_cpus
from tests.launcher import ServerProcess, free_port
from tests.messages import predict_request
from tests.serving.conftest import write_doubler

CPUS = schedulable_cpus()
# Each flag of main.cc's flag_list: (name, a valid value, TF Serving's default).
TF_SERVING_FLAGS = [
    ("port", 9000, 8500),
    ("grpc_socket_path", "/tmp/tf.sock", ""),
    ("rest_api_port", 8501, 0),
    ("rest_api_num_threads", 3, 4 * CPUS),
    ("rest_api_timeout_in_ms", 5000, 30000),
    ("rest_api_enable_cors_support", True, False),
    ("enable_batching", True, False),
    ("allow_version_labels_for_unavailable_models", True, False),
    ("batching_parameters_file", "/b.config", ""),
    ("enable_per_model_batching_parameters", True, False),
    ("model_config_file", "/models.config", ""),
    ("model_config_file_poll_wait_seconds", 60, 0),
    ("model_name", "m", "default"),
    ("model_base_path", "/models/m", ""),
    ("num_load_threads", 2, 0),
    ("num_unload_threads", 2, 0),
    ("max_num_load_retries", 0, 5),
    ("load_retry_interval_micros", -1, 60_000_000),
    ("file_system_poll_wait_seconds", 0, 1),
    ("flush_filesystem_caches", False, True),
    ("tensorflow_session_parallelism", 2, 0),
    ("tensorflow_session_config_file", "/session.config", ""),
    ("tensorflow_intra_op_parallelism", 2, 0),
    ("tensorflow_inter_op_parallelism", 2, 0),
    ("use_alts_credentials", True, False),
    ("ssl_config_file", "/ssl.config", ""),
    ("platform_config_file", "/platform.config", ""),
    ("per_process_gpu_memory_fraction", 0.5, 0.0),
    ("saved_model_tags", "serve,gpu", "serve"),
    ("grpc_channel_arguments", "grpc.max_connection_age_ms=2000", ""),
    ("grpc_max_threads", 16, None),  # 4 x CPUs there; graph threads here (docs/serving.md)
    ("enable_model_warmup", False, True),
    ("num_request_iterations_for_warmup", 3, 0),
    ("version", False, False),
    ("monitoring_config_file", "/monitoring.config", ""),
    ("remove_unused_fields_from_bundle_metagraph", False, True),
    ("prefer_tflite_model", True, False),
    ("num_tflite_pools", 2, CPUS),
    ("num_tflite_interpreters_per_pool", 2, 1),
    ("enable_signature_method_name_check", True, False),
    ("xla_cpu_compilation_enabled", True, False),
    ("xla_gpu_compilation_enabled", True, False),
    ("enable_profiler", False, True),
    ("thread_pool_factory_config_file", "/pool.config", ""),
    ("mixed_precision", "bfloat16", ""),
    ("skip_initialize_tpu", True, False),
    ("enable_grpc_healthcheck_service", True, False),
    ("enable_serialization_as_tensor_content", True, False),
]
BOOLEANS = [name for name, value, _ in TF_SERVING_FLAGS if isinstance(value, bool)]
X = {"x": np.ones((1, 2), np.float32)}


def parse(*flags: str):
    return build_parser().parse_args(["serve", *flags])


def flag_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_the_list_is_main_cc_s_48_flags():
    assert len({name for name, _, _ in TF_SERVING_FLAGS}) == 48


@pytest.mark.parametrize("name,value,_", TF_SERVING_FLAGS, ids=[f[0] for f in TF_SERVING_FLAGS])
def test_each_flag_is_accepted_with_its_value(name, value, _):
    args = parse(f"--{name}={flag_text(value)}")
    assert getattr(args, name) == value
    if name != "version":
        assert getattr(config_from_args(args), name) == value


def test_each_default_is_tf_serving_s():
    config = config_from_args(parse())
    for name, _, default in TF_SERVING_FLAGS:
        if default is not None and name != "version":
            assert (getattr(config, name) or type(default)()) == default, name


@pytest.mark.parametrize("name", BOOLEANS)
def test_booleans_take_tf_serving_s_forms(name):
    assert getattr(parse(f"--{name}"), name) is True
    assert getattr(parse(f"--{name}=false"), name) is False
    assert getattr(parse(f"--{name}=true"), name) is True


def test_flag_names_are_never_abbreviated_and_unknown_ones_are_kept_aside():
    # main.cc: an argument tensorflow::Flags does not know is reported, not fatal
    args = parse("--model_n=m")
    assert args.model_name == "default" and args.unknown_arguments == ["--model_n=m"]


def test_a_value_that_does_not_parse_stops_the_server_with_status_255():
    with pytest.raises(SystemExit) as stopped:
        parse("--port=abc")
    assert stopped.value.code == 255


def test_version_prints_both_versions_and_exits_0_without_a_model():
    done = subprocess.run([sys.executable, "-m", "serving", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"TensorFlow ModelServer: tfstack \S+\n"
                        rf"TensorFlow Library: {re.escape(tf.__version__)}\n", done.stdout)


@pytest.mark.parametrize("arguments,expected", [
    ("", []),
    ("grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
     [("grpc.max_connection_age_ms", 2000), ("grpc.lb_policy_name", "grpclb")]),
    ("a=-7,b=4294967296,c=1=2", [("a", -7), ("b", "4294967296"), ("c", 1)]),
])
def test_channel_arguments_are_read_as_server_cc_reads_them(arguments, expected):
    assert ServerConfig(grpc_channel_arguments=arguments).channel_arguments() == expected


@pytest.mark.parametrize("arguments", ["grpc.so_reuseaddr", "a=1,", "=1"])
def test_malformed_channel_arguments_are_refused_before_loading(arguments):
    with pytest.raises(ConfigError, match="expected key=value"):
        model_configs(ServerConfig(model_base_path="/m", grpc_channel_arguments=arguments))


def test_session_config_is_built_as_server_cc_builds_it(tmp_path):
    path = tmp_path / "session.config"
    path.write_text("intra_op_parallelism_threads: 7 allow_soft_placement: true")
    config = ServerConfig(tensorflow_session_config_file=str(path),
                          tensorflow_session_parallelism=3,
                          per_process_gpu_memory_fraction=0.25, mixed_precision="bfloat16")
    session = config.session_config()
    assert (session.intra_op_parallelism_threads, session.inter_op_parallelism_threads) == (3, 3)
    assert session.allow_soft_placement
    assert session.gpu_options.per_process_gpu_memory_fraction == 0.25
    assert session.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 1
    split = ServerConfig(tensorflow_intra_op_parallelism=2,
                         tensorflow_session_parallelism=5).session_config()
    assert (split.intra_op_parallelism_threads, split.inter_op_parallelism_threads) == (2, 0)


def test_saved_model_tags_are_a_set_defaulting_to_serve():
    assert ServerConfig(saved_model_tags="serve,tpu").saved_model_tag_set() == {"serve", "tpu"}
    assert ServerConfig(saved_model_tags="").saved_model_tag_set() == {"serve"}


@pytest.mark.parametrize("flags,message", [
    (dict(use_alts_credentials=True, ssl_config_file="/ssl.config"),
     "Either use_alts_credentials must be false or ssl_config_file must be empty."),
    (dict(tensorflow_intra_op_parallelism=1, tensorflow_inter_op_parallelism=1,
          tensorflow_session_parallelism=1), "You cannot configure all."),
])
def test_flag_combinations_server_cc_refuses(flags, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        model_configs(ServerConfig(model_base_path="/m", **flags))


def test_no_effect_flags_are_named_with_their_values():
    config = config_from_args(parse("--prefer_tflite_model", "--num_tflite_pools=3",
                                    "--per_process_gpu_memory_fraction=0.5"))
    given = {"prefer_tflite_model", "num_tflite_pools", "per_process_gpu_memory_fraction"}
    assert flags_without_effect(config, given, gpus=0) == [
        "--prefer_tflite_model=true", "--num_tflite_pools=3",
        "--per_process_gpu_memory_fraction=0.5"]
    assert "--per_process_gpu_memory_fraction=0.5" not in flags_without_effect(config, given, 1)
    assert flags_without_effect(config_from_args(parse()), set(vars(parse())), 0) == []
    assert len(NO_EFFECT) == 16


@pytest.fixture(scope="module")
def socket_dir():
    path = Path(tempfile.mkdtemp(prefix="tfs"))  # Unix socket paths are short (108 bytes)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, socket_dir):
    """One server given the flags under test, a no-effect flag of each kind among them."""
    root = tmp_path_factory.mktemp("flags")
    write_doubler(root / "1")
    with ServerProcess(
        "--model_name=m", f"--model_base_path={root}", f"--rest_api_port={free_port()}",
        f"--grpc_socket_path={socket_dir / 'grpc.sock'}",
        "--grpc_channel_arguments=grpc.max_receive_message_length=4096,grpc.so_reuseaddr=1",
        "--enable_grpc_healthcheck_service", "--rest_api_enable_cors_support",
        "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=2",
        "--prefer_tflite_model=true", "--enable_profiler=false", "--num_tflite_pools=3",
        "--xla_cpu_compilation_enabled", "--platform_config_file=/nowhere/platform.config",
        "--saved_model_tags=serve", "--enable_signature_method_name_check=false",
        "--not_a_tf_serving_flag=1",
    ) as running:
        yield running


def test_an_unknown_argument_is_reported_and_the_server_starts(server):
    assert any("unknown argument: --not_a_tf_serving_flag=1" in line for line in server.log)


def test_grpc_socket_path_serves_the_same_services(server, socket_dir):
    with grpc.insecure_channel(f"unix:{socket_dir / 'grpc.sock'}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "m"
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            request, timeout=30)
        assert [(s.version, s.state) for s in status.model_version_status] == [
            (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_request("m", X), timeout=30)
        assert tf.make_ndarray(answer.outputs["y"]).tolist() == [[2.0, 2.0]]


@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_channel_arguments_apply_to_the_server(server, socket_dir, over):
    target = server.target if over == "tcp" else f"unix:{socket_dir / 'grpc.sock'}"
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(predict_request("m", X), timeout=30).outputs["y"]
        large = {"x": np.ones((1000, 2), np.float32)}  # 8 kB, over the 4096 bytes given
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("m", large), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_no_effect_flags_are_logged_once_and_the_server_runs(server):
    lines = [line for line in server.log if "flags without effect" in line]
    assert len(lines) == 1
    named = re.findall(r"--(\w+)=", lines[0].split("Flags):")[1])
    assert sorted(named) == sorted(["prefer_tflite_model", "enable_profiler", "num_tflite_pools",
                                    "xla_cpu_compilation_enabled", "platform_config_file"])
    assert server.process.poll() is None


def test_healthcheck_flag_adds_tf_serving_s_health_names(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("ModelService", "PredictionService", ""):
            answer = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=30)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


def test_cors_headers_on_answers_and_preflights(server):
    url = f"{server.rest_url}/v1/models/m"
    for response in (requests.get(url, timeout=30), requests.get(url + "x", timeout=30),
                     requests.options(url, headers={"Origin": "https://app"}, timeout=30)):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "POST, GET"
        assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert requests.options(url, headers={"Origin": "https://app"}, timeout=30).status_code == 200
    assert requests.options(url, timeout=30).status_code == 400


def test_parallelism_flags_size_tensorflow_s_threads(server):
    assert any("TensorFlow threads: 1 within an op, 2 ops at once" in line
               for line in server.log)


@pytest.mark.skipif(Path("/sys/class/dmi/id/product_name").exists() and "Google" in
                    Path("/sys/class/dmi/id/product_name").read_text(),
                    reason="ALTS binds on Google Cloud")
def test_alts_credentials_are_used_and_cannot_bind_off_google_cloud(tmp_path):
    write_doubler(tmp_path / "1")
    with pytest.raises(RuntimeError, match="could not bind the gRPC server") as info:
        with ServerProcess("--model_name=m", f"--model_base_path={tmp_path}",
                           "--use_alts_credentials", startup_seconds=120):
            pass
    assert "cannot start the server" in str(info.value)


def test_the_docs_flag_table_covers_every_flag():
    docs = (Path(__file__).resolve().parents[2] / "docs/serving.md").read_text()
    table = docs[docs.index("### TF Serving's flags"):docs.index("### tfstack's own flags")]
    rows = re.findall(r"^\| (.+?) \|", table, re.MULTILINE)
    documented = {name for row in rows for name in re.findall(r"`--(\w+)`", row)}
    assert documented == {name for name, _, _ in TF_SERVING_FLAGS}
