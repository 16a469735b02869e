"""One access-log line per request, for people (`text`) or machines (`json`), and the
request id that ties a client's call to that line.

The transport adapters open a `RequestRecord` per call (its id from the client's
`x-request-id`, else a new one, and returned in the response's metadata or headers);
the data plane fills in what it learns on the way (model, version, signature, queue
time, batch size); the adapter writes the line when the answer is sent.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

FORMATS = ("text", "json")
access_logger = logging.getLogger("serving.access")
# An id a client may choose: printable, no spaces, short enough to log as it is.
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass
class RequestRecord:
    """What the access log says of one request."""

    request_id: str
    protocol: str  # grpc or http
    method: str  # the gRPC method or "POST /v1/models/m:predict"
    peer: str
    model: str = ""
    version: str = ""
    signature: str = ""
    status: str = "OK"  # the gRPC code's name, or the HTTP status
    queue_seconds: float = 0.0
    batch_size: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    started: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)  # formatted only for a line written

    def fields(self) -> dict:
        """The line's fields, latency measured now."""
        stamp = datetime.fromtimestamp(self.wall, UTC).isoformat(timespec="milliseconds")
        return {"time": stamp, "request_id": self.request_id, "peer": self.peer,
                "protocol": self.protocol, "method": self.method, "model": self.model,
                "version": self.version, "signature": self.signature, "status": self.status,
                "latency_ms": round(1000 * (time.monotonic() - self.started), 3),
                "queue_ms": round(1000 * self.queue_seconds, 3),
                "batch_size": self.batch_size, "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out}


# The record of the request the current task serves; None outside a request.
RECORD: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "request_record", default=None)


def request_id(given: str | None) -> str:
    """The client's id when it sent a usable one, else a new one."""
    if given and _CLIENT_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def span_attributes(record: RequestRecord) -> dict:
    """The record as a request span's attributes."""
    return {"tfstack.request_id": record.request_id, "rpc.system": record.protocol,
            "rpc.method": record.method, "tfstack.model": record.model,
            "tfstack.version": record.version, "tfstack.signature": record.signature,
            "tfstack.status": record.status, "tfstack.rows": record.batch_size,
            "tfstack.queue_ms": round(1000 * record.queue_seconds, 3),
            "tfstack.bytes_in": record.bytes_in, "tfstack.bytes_out": record.bytes_out}


def current() -> RequestRecord | None:
    return RECORD.get()


def write(record: RequestRecord, fmt: str) -> None:
    """Logs the request's line, as `text` or `json`."""
    line = record.fields()
    if fmt == "json":
        access_logger.info(json.dumps(line, separators=(",", ":")))
        return
    access_logger.info(
        "%s %s %s %.1fms model=%s version=%s signature=%s queue=%.1fms batch=%d in=%dB "
        "out=%dB peer=%s id=%s", line["protocol"], line["method"], line["status"],
        line["latency_ms"], line["model"], line["version"], line["signature"],
        line["queue_ms"], line["batch_size"], line["bytes_in"], line["bytes_out"],
        line["peer"], line["request_id"])
