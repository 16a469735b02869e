"""The server's errors: one class per status meaning, mapped to gRPC codes here only."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:  # the server's errors load without TensorFlow (the CLI's help)
    import tensorflow as tf


class ServingError(Exception):
    """An error a request can cause; `code` is the gRPC status it is answered with."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class NotFound(ServingError):
    code = grpc.StatusCode.NOT_FOUND


class InvalidArgument(ServingError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(ServingError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServingError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ServingError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServingError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(ServingError):
    code = grpc.StatusCode.INTERNAL


class Unimplemented(ServingError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Cancelled(ServingError):
    """A graph run that was cancelled (the Session closed under it)."""

    code = grpc.StatusCode.CANCELLED


# HTTP status of each gRPC code, as TF Serving's REST API answers them.
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}


def http_status(error: ServingError) -> int:
    """The HTTP status a REST caller gets for `error`."""
    return _HTTP_STATUS.get(error.code, 500)


_BY_CODE = {cls.code: cls for cls in (NotFound, InvalidArgument, FailedPrecondition,
                                      ResourceExhausted, Unavailable, DeadlineExceeded,
                                      Cancelled, Unimplemented)}
_TF_NOISE = re.compile(r"^\s|^Detected at node|^Graph execution error|^File |^\[\[|^$")


def from_tf_error(error: tf.errors.OpError, context: str) -> ServingError:
    """The ServingError with the same canonical code as a TensorFlow runtime error,
    keeping only the lines of its message a caller can act on, after `context`."""
    code = next((c for c in grpc.StatusCode if c.value[0] == error.error_code),
                grpc.StatusCode.INTERNAL)
    lines = [line for line in str(error.message).splitlines() if not _TF_NOISE.search(line)]
    message = " ".join(line.split(" [Op:")[0].split("\t [[")[0] for line in lines)
    message = message.replace("<stack traces unavailable>", "").strip()
    return _BY_CODE.get(code, Internal)(f"{context}: {message or error.message}")
