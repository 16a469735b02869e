"""`tfstack serve`: the embedded server, with TF Serving's own flag names."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.config import ServerConfig

logger = logging.getLogger(__name__)

# TF Serving flags accepted with no effect here: name, type, meaning (model_servers/
# main.cc) and why not here (docs/serving.md, Flags, says more).
NO_EFFECT = (
    ("rest_api_num_threads", int, "threads for REST (TF Serving: 4 x CPUs); REST runs "
                                  "on the event loop here, graphs on --grpc_max_threads"),
    ("enable_per_model_batching_parameters", bool,
     "read batching_params.pbtxt from each SavedModel; here --batching_parameters_file "
     "applies to every model"),
    ("num_load_threads", int, "threads loading servables (0: serially); here versions "
                              "load one at a time on the polling thread"),
    ("num_unload_threads", int, "threads unloading servables; as --num_load_threads"),
    ("flush_filesystem_caches", bool, "flush file system caches after loads (default "
                                      "true); local files here, cached by the OS"),
    ("platform_config_file", str, "PlatformConfigMap text proto replacing the TensorFlow "
                                  "platform's settings; not read here"),
    ("remove_unused_fields_from_bundle_metagraph", bool,
     "drop unused MetaGraphDef fields to save memory (default true)"),
    ("prefer_tflite_model", bool, "load model.tflite instead of saved_model.pb; "
                                  "SavedModels only here"),
    ("num_tflite_pools", int, "TFLite interpreter pools (TF Serving: CPUs); no TFLite here"),
    ("num_tflite_interpreters_per_pool", int, "TFLite interpreters per pool; no TFLite here"),
    ("xla_cpu_compilation_enabled", bool, "allow XLA:CPU JIT (TF Serving disables it "
                                          "by default); TensorFlow's Python runtime "
                                          "always allows it"),
    ("xla_gpu_compilation_enabled", bool, "allow XLA:CPU and XLA:GPU JIT; as above"),
    ("enable_profiler", bool, "serve tensorflow.ProfilerService on the gRPC port "
                              "(default true); not served here"),
    ("thread_pool_factory_config_file", str, "ThreadPoolConfig text proto for the "
                                             "threads of Predict; not read here"),
    ("skip_initialize_tpu", bool, "do not initialise the TPU system; no TPU here"),
    ("enable_serialization_as_tensor_content", bool,
     "write Predict outputs as tensor_content; here outputs are always written as "
     "tf.make_tensor_proto writes them"),
)


def parse_bool(text: str) -> bool:
    """TF Serving's boolean flag values: true/false, 1/0."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `serve` to the `tfstack` command."""
    from serving.config import ServerConfig

    defaults = ServerConfig()
    parser = commands.add_parser(
        "serve", help="serve a model repository over TF Serving's gRPC API",
        description="Flags use TF Serving's names and syntax (--port=8500).",
        allow_abbrev=False)
    parser.add_argument("--port", type=int, default=defaults.port, help="gRPC port")
    parser.add_argument("--host", default=defaults.host,
                        help="address to bind (default: loopback only)")
    parser.add_argument("--rest_api_port", type=int, default=defaults.rest_api_port,
                        help="REST port; 0 disables REST")
    parser.add_argument("--model_name", default=defaults.model_name)
    parser.add_argument("--model_base_path", default=None,
                        help="folder of integer version folders of one model")
    parser.add_argument("--model_config_file", default=None,
                        help="ModelServerConfig text proto listing the models to serve")
    parser.add_argument("--model_config_list_root_dir", default=None,
                        help="(tfstack; ServerCore's option, which TF Serving's binary has no "
                             "flag for) absolute folder that relative base paths join to")
    parser.add_argument("--file_system_poll_wait_seconds", type=float,
                        default=defaults.file_system_poll_wait_seconds,
                        help="seconds between scans for new versions; 0 loads once")
    parser.add_argument("--model_config_file_poll_wait_seconds", type=float,
                        default=defaults.model_config_file_poll_wait_seconds,
                        help="seconds between checks of --model_config_file; 0 never")
    parser.add_argument("--max_num_load_retries", type=int,
                        default=defaults.max_num_load_retries,
                        help="retries of a version that failed to load (and again "
                             "whenever its files change)")
    parser.add_argument("--load_retry_interval_micros", type=int,
                        default=defaults.load_retry_interval_micros,
                        help="microseconds between retries of a failed load (negative: "
                             "no wait)")
    parser.add_argument("--max_load_wait_seconds", type=float,
                        default=defaults.max_load_wait_seconds,
                        help="how long polling waits on one version's load before going on "
                             "with the other models (the load goes on; hung storage is "
                             "reported, not waited on)")
    parser.add_argument("--allow_version_labels_for_unavailable_models", type=parse_bool,
                        nargs="?", const=True,
                        default=defaults.allow_version_labels_for_unavailable_models,
                        help="let a new label name a version that is not loaded yet (a "
                             "label that moves still needs its version AVAILABLE)")
    parser.add_argument("--grpc_max_threads", type=int, default=defaults.grpc_max_threads,
                        help="threads running model graphs")
    parser.add_argument("--max_threads_per_connection", type=int,
                        default=defaults.max_threads_per_connection,
                        help="(tfstack) of those threads, how many one connection's "
                             "requests may use at once (the rest wait in arrival order); "
                             "0: half of them")
    parser.add_argument("--enable_batching", type=parse_bool, nargs="?", const=True,
                        default=defaults.enable_batching,
                        help="merge concurrent requests into batches")
    parser.add_argument("--batching_parameters_file", default=None,
                        help="BatchingParameters text proto (TF Serving's format)")
    parser.add_argument("--monitoring_config_file", default=None,
                        help="MonitoringConfig text proto; Prometheus metrics on the REST port")
    parser.add_argument("--rest_api_timeout_in_ms", type=int,
                        default=defaults.rest_api_timeout_in_ms)
    parser.add_argument("--ssl_config_file", default=None,
                        help="SSLConfig text proto: TLS for gRPC (TF Serving's format)")
    parser.add_argument("--auth_token_file", default=None,
                        help="(tfstack) file with a bearer token every call must carry")
    parser.add_argument("--access_log", type=parse_bool, nargs="?", const=True,
                        default=defaults.access_log, help="(tfstack) log each request")
    parser.add_argument("--request_log_max_file_bytes", type=int,
                        default=defaults.request_log_max_file_bytes,
                        help="(tfstack) bytes of a request log file (logging_config) "
                             "before the next one starts")
    parser.add_argument("--request_log_max_files", type=int,
                        default=defaults.request_log_max_files,
                        help="(tfstack) request log files kept per filename_prefix; older "
                             "ones are deleted")
    parser.add_argument("--access_log_format", choices=("text", "json"),
                        default=defaults.access_log_format,
                        help="(tfstack) access-log lines for people (text) or machines "
                             "(json: time, request id, peer, protocol, method, model, "
                             "version, signature, status, latency, queue time, batch "
                             "size, bytes in and out)")
    parser.add_argument("--max_request_tensor_bytes", type=int,
                        default=defaults.max_request_tensor_bytes,
                        help="(tfstack) bytes the decoded input tensors of one request may "
                             "take; a tensor declaring more is refused before it is built")
    parser.add_argument("--max_request_fill_bytes", type=int,
                        default=defaults.max_request_fill_bytes,
                        help="(tfstack) bytes that filling tensors declaring more elements "
                             "than they carry (TensorFlow repeats the last value) may add "
                             "to one request")
    parser.add_argument("--max_request_rows", type=int, default=defaults.max_request_rows,
                        help="(tfstack) rows (first dimension) one request may carry; "
                             "0: no limit")
    parser.add_argument("--rest_max_body_bytes_in_flight", type=int,
                        default=defaults.rest_max_body_bytes_in_flight,
                        help="(tfstack) bytes of REST bodies received and handled at once; "
                             "a body that would pass it is RESOURCE_EXHAUSTED (429)")
    parser.add_argument("--rest_max_parsed_body_bytes", type=int,
                        default=defaults.rest_max_parsed_body_bytes,
                        help="(tfstack) bytes one REST body's parsed JSON may take, "
                             "estimated before parsing (~32 a number, ~64 an array)")
    parser.add_argument("--max_in_flight_per_signature", type=int,
                        default=defaults.max_in_flight_per_signature,
                        help="(tfstack) requests of one model signature admitted at once; "
                             "more are RESOURCE_EXHAUSTED")
    parser.add_argument("--grpc_max_concurrent_rpcs", type=int,
                        default=defaults.grpc_max_concurrent_rpcs,
                        help="(tfstack) gRPC calls open at once; more are RESOURCE_EXHAUSTED")
    parser.add_argument("--max_connections", type=int, default=defaults.max_connections,
                        help="(tfstack) open connections per listener; more are closed at "
                             "once (0: half the file-descriptor limit for gRPC, a quarter "
                             "for REST)")
    parser.add_argument("--receive_timeout_seconds", type=float,
                        default=defaults.receive_timeout_seconds,
                        help="(tfstack) seconds a gRPC call's request message may take to "
                             "arrive; a stalled upload is cancelled after it")
    parser.add_argument("--header_timeout_seconds", type=float,
                        default=defaults.header_timeout_seconds,
                        help="(tfstack) seconds a REST request's headers may take to arrive")
    parser.add_argument("--idle_timeout_seconds", type=float,
                        default=defaults.idle_timeout_seconds,
                        help="(tfstack) seconds a connection with no calls is kept open")
    parser.add_argument("--drain_seconds", type=float, default=defaults.drain_seconds,
                        help="(tfstack) seconds health reports NOT_SERVING before the "
                             "listeners stop, on SIGTERM")
    parser.add_argument("--grace_period_seconds", type=float,
                        default=defaults.grace_period_seconds,
                        help="(tfstack) seconds calls in flight get to finish on SIGTERM")
    parser.add_argument("--enable_model_warmup", type=parse_bool, nargs="?", const=True,
                        default=defaults.enable_model_warmup)
    _add_tf_serving_flags(parser, defaults)
    parser.set_defaults(handler=run)
    _as_tf_serving_parses(parser)


def _flag(parser: argparse.ArgumentParser, name: str, kind: type, text: str,
          default: object = argparse.SUPPRESS) -> None:
    """A flag as TF Serving's parser takes it; booleans also bare (`--flag`). Left
    unset, it is absent from the namespace (SUPPRESS) and ServerConfig's default holds."""
    if kind is bool:
        parser.add_argument(f"--{name}", type=parse_bool, nargs="?", const=True,
                            default=default, help=text)
    else:
        parser.add_argument(f"--{name}", type=kind, default=default, help=text)


def _add_tf_serving_flags(parser: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    """The rest of model_servers/main.cc's flags, with its defaults (see ServerConfig)."""
    _flag(parser, "version", bool, "print the server's and TensorFlow's versions and exit",
          False)
    _flag(parser, "grpc_socket_path", str,
          "also serve the gRPC API on this Unix domain socket (relative or absolute path)")
    _flag(parser, "grpc_channel_arguments", str,
          "comma-separated key=value arguments for the gRPC server, e.g. "
          "grpc.max_connection_age_ms=2000 (32-bit integer values pass as integers)")
    _flag(parser, "use_alts_credentials", bool,
          "Google ALTS credentials for gRPC (binds only on Google Cloud; not with "
          "--ssl_config_file)")
    _flag(parser, "enable_grpc_healthcheck_service", bool,
          "also report TF Serving's health names ModelService and PredictionService "
          "(gRPC health checking is always served here)")
    _flag(parser, "rest_api_enable_cors_support", bool,
          "add CORS headers (Access-Control-Allow-*) to every REST answer")
    for name, kind, text in (
        ("tensorflow_session_parallelism", int, "threads of a model session, within and "
                                                "across ops (0: automatic)"),
        ("tensorflow_intra_op_parallelism", int, "threads running one op (0: automatic)"),
        ("tensorflow_inter_op_parallelism", int, "ops run at once (0: automatic)"),
    ):
        _flag(parser, name, kind, text + "; not with all three set", getattr(defaults, name))
    # Applied where a SavedModel is loaded (see ServerConfig.session_config).
    for name, kind, text in (
        ("saved_model_tags", str, "comma-separated tags of the MetaGraphDef to load"),
        ("enable_signature_method_name_check", bool,
         "check each SignatureDef's method_name in Classify, Regress and MultiInference "
         "(off: TF2 exports cannot set it)"),
        ("num_request_iterations_for_warmup", int,
         "times each warm-up record is replayed (used if > 0)"),
        ("tensorflow_session_config_file", str,
         "ConfigProto text proto for model sessions; the parallelism flags override its "
         "thread counts"),
        ("mixed_precision", str, "bfloat16: bfloat16 auto mixed precision in model "
                                 "sessions"),
    ):
        _flag(parser, name, kind, f"{text} (applies when a model loads)",
              getattr(defaults, name))
    _flag(parser, "per_process_gpu_memory_fraction", float,
          "fraction of GPU memory the process takes (0: TensorFlow chooses; 1: all at "
          "start); applies when a model loads, no effect without a GPU")
    for name, kind, text in NO_EFFECT:
        _flag(parser, name, kind, f"(no effect here) {text}")


def _as_tf_serving_parses(parser: argparse.ArgumentParser) -> None:
    """main.cc's command-line rules: an unknown argument is printed ("unknown
    argument: ...") and the server starts anyway; a flag whose value does not parse
    stops it with status 255 (main returns -1)."""
    parse_known_args = parser.parse_known_args

    def keeping_unknown(args=None, namespace=None):
        namespace, unknown = parse_known_args(args, namespace)
        namespace.unknown_arguments = [*getattr(namespace, "unknown_arguments", ()), *unknown]
        return namespace, []

    def error(message: str):
        parser.print_usage(sys.stderr)
        parser.exit(255, f"{parser.prog}: error: {message}\n")

    parser.parse_known_args = keeping_unknown
    parser.error = error


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig a parsed `serve` command line asks for."""
    from serving.config import ServerConfig

    fields = {f.name for f in dataclasses.fields(ServerConfig)}
    return ServerConfig(**{k: v for k, v in vars(args).items() if k in fields})


def flags_without_effect(config: ServerConfig, given: Iterable[str], gpus: int) -> list[str]:
    """The flags among `given` that change nothing here, as `--name=value`: those of
    NO_EFFECT, and the GPU memory fraction when no GPU is visible."""
    names = [name for name, _, _ in NO_EFFECT if name in given]
    if "per_process_gpu_memory_fraction" in given and not gpus:
        names.append("per_process_gpu_memory_fraction")
    values = {name: getattr(config, name) for name in names}
    return [f"--{name}={str(value).lower() if isinstance(value, bool) else value}"
            for name, value in values.items()]


def version_text() -> str:
    """What `--version` prints: the server's release and TensorFlow's, as main.cc's
    two lines."""
    from importlib.metadata import PackageNotFoundError, version

    import tensorflow as tf

    try:
        ours = version("tfstack")
    except PackageNotFoundError:  # run from a checkout that is not installed
        ours = "unknown"
    return f"TensorFlow ModelServer: tfstack {ours}\nTensorFlow Library: {tf.__version__}"


def _report_flags(args: argparse.Namespace, config: ServerConfig) -> None:
    """Logs once what the flags given cannot do here."""
    given = set(vars(args))
    gpus = 0
    if "per_process_gpu_memory_fraction" in given:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    ignored = flags_without_effect(config, given, gpus)
    if ignored:
        logger.warning("flags without effect in this server, ignored (docs/serving.md, "
                       "Flags): %s", " ".join(ignored))
    if config.mixed_precision not in ("", "bfloat16"):
        logger.warning("--mixed_precision=%s is ignored: the one mode is bfloat16",
                       config.mixed_precision)


def run(args: argparse.Namespace) -> int:
    """`serve`: prints the versions, or runs the server until SIGTERM; 1 if it cannot
    start."""
    if args.version:
        print(version_text())
        return 0
    from serving.server import serve

    for argument in getattr(args, "unknown_arguments", ()):
        print(f"unknown argument: {argument}", flush=True)
    config = config_from_args(args)
    _report_flags(args, config)
    try:
        asyncio.run(serve(config))
    except (ValueError, OSError) as e:  # ConfigError is a ValueError
        logger.error("cannot start the server: %s", e)
        return 255  # main.cc returns -1: "Failed to start server"
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A parser with `serve` as its one sub-command (for `python -m serving`)."""
    parser = argparse.ArgumentParser(prog="python -m serving")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m serving FLAGS...`: the server alone, same flags as `tfstack serve`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    args = build_parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)
