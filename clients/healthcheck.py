"""`python -m clients.healthcheck`: exit 0 when the server's gRPC health service
answers SERVING, 1 otherwise; the container's HEALTHCHECK.

Cheap on purpose (it runs every few seconds): imports grpc, grpc_health,
`clients.channels` and `contract.defaults` only, never TensorFlow or numpy. TLS and
the bearer token come from the same flags and `TFSTACK_*` variables as the `tfstack`
client commands;
the health service needs no token on a tfstack server, but one given is sent.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.channels import ChannelSecurity, add_security_flags, secure_channel, security_from_args
from contract.defaults import DEFAULT_TARGET

TARGET_ENV = "TFSTACK_HEALTH_TARGET"


def check(target: str, security: ChannelSecurity | None = None, service: str = "",
          timeout: float = 4.0) -> str:
    """The health status name (`SERVING`, `NOT_SERVING`, ...) `target` reports for
    `service` ("" is the whole server); raises grpc.RpcError when the call fails."""
    with secure_channel(target, security) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clients.healthcheck",
        description="Exit 0 when the gRPC health service answers SERVING, else 1.")
    parser.add_argument("--target", default=os.environ.get(TARGET_ENV) or DEFAULT_TARGET,
                        help=f"HOST:PORT of the gRPC port (default: ${TARGET_ENV} or "
                             f"{DEFAULT_TARGET})")
    parser.add_argument("--service", default="", help="service name; '' is the whole server")
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds for the call")
    add_security_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the check; prints one line saying what it found."""
    args = _parser().parse_args(argv)
    try:
        status = check(args.target, security_from_args(args), args.service, args.timeout)
    except (ValueError, OSError) as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    except grpc.RpcError as e:
        print(f"unhealthy: {args.target}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    print(f"{args.target}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
