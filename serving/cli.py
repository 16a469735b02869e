"""`tfstack serve`: the embedded server, with TF Serving's own flag names."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys

logger = logging.getLogger(__name__)


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
        description="Flags use TF Serving's names and syntax (--port=8500).")
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
                        help="polls that retry a version that failed to load")
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from serving.config import ServerConfig
    from serving.server import serve

    fields = {f.name for f in dataclasses.fields(ServerConfig)}
    config = ServerConfig(**{k: v for k, v in vars(args).items() if k in fields})
    try:
        asyncio.run(serve(config))
    except (ValueError, OSError) as e:  # ConfigError is a ValueError
        logger.error("cannot start the server: %s", e)
        return 1
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
