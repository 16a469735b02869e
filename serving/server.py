"""Assembling and running the gRPC server: services, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2_grpc

from contract.defaults import MAX_MESSAGE_BYTES
from serving.batching import BatchingOptions
from serving.config import ServerConfig, model_configs
from serving.connections import ConnectionLimits, ReceiveTimeout, grpc_options
from serving.cors import cors_middleware
from serving.dataplane import DataPlane, RequestLimits
from serving.grpc_service import ModelService, ParsingRegistrar, PredictionService
from serving.interceptors import GrpcGuard, read_token, rest_middlewares, ssl_credentials
from serving.metrics import prometheus_path
from serving.oip_grpc import SERVICE_NAME as OIP_SERVICE_NAME
from serving.oip_grpc import InferenceService
from serving.polling import poll_versions, watch_config_file
from serving.repository import LoadPolicy, ModelRepository
from serving.request_logging import LogLimits
from serving.rest import start_rest
from serving.servable import LoadOptions

logger = logging.getLogger(__name__)

SERVICE_NAMES = (
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    OIP_SERVICE_NAME,
)
# The names TF Serving's --enable_grpc_healthcheck_service reports (model_servers/server.cc).
TF_SERVING_HEALTH_NAMES = ("ModelService", "PredictionService")


def create_server(dataplane: DataPlane, address: str = "127.0.0.1:0",
                  max_message_bytes: int = MAX_MESSAGE_BYTES,
                  credentials: grpc.ServerCredentials | None = None,
                  interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
                  maximum_concurrent_rpcs: int | None = None,
                  limits: ConnectionLimits | None = None,
                  socket_path: str | None = None,
                  channel_arguments: Iterable[tuple[str, int | str]] = (),
                  ) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A grpc.aio server with TF Serving's services, health checking and reflection,
    bound to `address` (port 0 picks a free one; TLS with `credentials`) and to the Unix
    socket `socket_path` if given; returns it with its port. Calls beyond
    `maximum_concurrent_rpcs` are RESOURCE_EXHAUSTED; connections and stalled uploads
    are bounded by `limits`; `channel_arguments` replace ours of the same key (gRPC
    core would read the first of a key, ours)."""
    limits = limits or ConnectionLimits()
    options = dict([
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        *grpc_options(limits, maximum_concurrent_rpcs),
    ])
    options.update(channel_arguments)
    server = grpc.aio.server(
        interceptors=(ReceiveTimeout(limits.receive_timeout), *interceptors),
        maximum_concurrent_rpcs=maximum_concurrent_rpcs, options=list(options.items()))
    parsing = ParsingRegistrar(server)  # unparsable bytes: INTERNAL, as TF Serving
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(dataplane), parsing)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(dataplane), parsing)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(dataplane),
                                                                parsing)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, parsing)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = _bind(server, address, credentials)
    if socket_path:  # TF Serving listens on both, with the same credentials
        _bind(server, f"unix:{socket_path}", credentials)
    return server, port, health_servicer


def _bind(server: grpc.aio.Server, address: str,
          credentials: grpc.ServerCredentials | None) -> int:
    try:
        port = (server.add_secure_port(address, credentials) if credentials
                else server.add_insecure_port(address))
    except RuntimeError as e:  # grpcio raises where older releases returned 0
        raise OSError(f"could not bind the gRPC server to {address}") from e
    if port == 0:
        raise OSError(f"could not bind the gRPC server to {address}")
    return port


async def set_serving(health_servicer: health.aio.HealthServicer, serving: bool,
                      extra_names: tuple[str, ...] = ()) -> None:
    """Marks the whole server and each TF Serving service (and `extra_names`) as (not)
    serving."""
    status = (health_pb2.HealthCheckResponse.SERVING if serving
              else health_pb2.HealthCheckResponse.NOT_SERVING)
    for name in ("", *SERVICE_NAMES, *extra_names):
        await health_servicer.set(name, status)


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """ALTS, TLS from an SSLConfig file, or none, as server.cc's BuildServerCredentials
    chooses (ALTS binds only on Google Cloud)."""
    if config.use_alts_credentials:
        return grpc.alts_server_credentials()
    return ssl_credentials(config.ssl_config_file) if config.ssl_config_file else None


def _health_names(config: ServerConfig) -> tuple[str, ...]:
    return TF_SERVING_HEALTH_NAMES if config.enable_grpc_healthcheck_service else ()


async def serve(config: ServerConfig) -> None:
    """Loads the models, serves until SIGTERM/SIGINT, then drains in-flight calls."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    models = model_configs(config)  # checks the flags too
    options = load_options(config)
    threads = options.session_config
    if threads.intra_op_parallelism_threads or threads.inter_op_parallelism_threads:
        logger.info("TensorFlow threads: %d within an op, %d ops at once (0: automatic)",
                    threads.intra_op_parallelism_threads, threads.inter_op_parallelism_threads)
    repository = ModelRepository(models, options, load_policy(config),
                                 config.allow_version_labels_for_unavailable_models)
    await repository.poll_off_loop()
    limits = RequestLimits(
        max_request_tensor_bytes=config.max_request_tensor_bytes,
        max_in_flight_per_signature=config.max_in_flight_per_signature,
        max_request_fill_bytes=config.max_request_fill_bytes,
        max_request_rows=config.max_request_rows,
        threads_per_caller=config.max_threads_per_connection)
    dataplane = DataPlane(repository, config.grpc_max_threads, batching_options(config),
                          limits, config.model_config_list_root_dir,
                          config.enable_signature_method_name_check,
                          LogLimits(config.request_log_max_file_bytes,
                                    config.request_log_max_files))
    dataplane.request_log.update(models)  # ConfigError: a collector type it lacks
    background = _start_polling(dataplane, config)
    token = read_token(config.auth_token_file)
    server, port, health_servicer = create_server(
        dataplane, f"{config.host}:{config.port}", config.max_message_bytes,
        server_credentials(config),
        (GrpcGuard(token, _access_format(config)),),
        config.grpc_max_concurrent_rpcs, config.connection_limits(),
        config.grpc_socket_path, config.channel_arguments(),
    )
    await server.start()
    rest = None
    metrics_path = prometheus_path(config.monitoring_config_file)
    if config.rest_api_port:
        rest, rest_port = await start_rest(
            dataplane, config.host, config.rest_api_port, config.max_message_bytes,
            metrics_path, [cors_middleware(config.rest_api_enable_cors_support),
                           *rest_middlewares(token, _access_format(config))],
            config.rest_api_timeout_in_ms / 1000, config.rest_max_body_bytes_in_flight,
            config.rest_max_parsed_body_bytes, config.connection_limits())
        logger.info("Exporting HTTP/REST API at %s:%d", config.host, rest_port)
    elif metrics_path:
        logger.warning("Prometheus metrics need --rest_api_port; they are not served")
    await set_serving(health_servicer, True, _health_names(config))
    if config.grpc_socket_path:
        logger.info("Running gRPC ModelServer at UNIX socket %s", config.grpc_socket_path)
    logger.info("Running gRPC ModelServer at %s:%d, serving %s",
                config.host, port, ", ".join(repository.model_names))
    await stop.wait()
    await shut_down(config, health_servicer, server, rest, background)
    dataplane.close()


async def shut_down(config: ServerConfig, health_servicer: health.aio.HealthServicer,
                    server: grpc.aio.Server, rest, background: list[asyncio.Task]) -> None:
    """As a load balancer expects: NOT_SERVING first, `drain_seconds` for it to notice,
    then both listeners stop taking calls together, and calls in flight get up to
    `grace_period_seconds` to finish."""
    logger.info("shutting down: NOT_SERVING for %.1f s, then up to %.0f s for calls in "
                "flight", config.drain_seconds, config.grace_period_seconds)
    await set_serving(health_servicer, False, _health_names(config))
    for task in background:
        task.cancel()
    await asyncio.sleep(config.drain_seconds)
    stops = [server.stop(config.grace_period_seconds)]
    if rest is not None:
        stops.append(asyncio.wait_for(rest.cleanup(), config.grace_period_seconds))
    for outcome in await asyncio.gather(*stops, return_exceptions=True):
        if isinstance(outcome, Exception):
            logger.warning("REST calls still running after the grace period: %r", outcome)


def _access_format(config: ServerConfig) -> str:
    """The access log's format, "" when there is none."""
    return config.access_log_format if config.access_log else ""


def load_options(config: ServerConfig) -> LoadOptions:
    """How the flags say each version is loaded and warmed up."""
    return LoadOptions(config.saved_model_tag_set(), config.session_config(),
                       config.enable_model_warmup,
                       max(config.num_request_iterations_for_warmup, 1),
                       config.enable_signature_method_name_check)


def load_policy(config: ServerConfig) -> LoadPolicy:
    """When failed loads are retried and how long a poll waits on one load."""
    return LoadPolicy(config.max_num_load_retries,
                      max(config.load_retry_interval_micros, 0) / 1e6,
                      config.max_load_wait_seconds)


def batching_options(config: ServerConfig) -> BatchingOptions | None:
    """The batching parameters in force: none unless --enable_batching; TF Serving's
    defaults unless --batching_parameters_file."""
    if not config.enable_batching:
        return None
    if config.batching_parameters_file:
        return BatchingOptions.from_file(config.batching_parameters_file)
    return BatchingOptions()


def _start_polling(dataplane: DataPlane, config: ServerConfig) -> list[asyncio.Task]:
    """TF Serving's semantics: a positive wait polls; zero (for versions) or absent
    (for the config file) means load once."""
    tasks = []
    if config.file_system_poll_wait_seconds > 0:
        tasks.append(asyncio.create_task(
            poll_versions(dataplane, config.file_system_poll_wait_seconds)))
    if config.model_config_file and config.model_config_file_poll_wait_seconds > 0:
        tasks.append(asyncio.create_task(watch_config_file(dataplane, config)))
    return tasks
