"""REST adapter: TF Serving's `/v1/models/...` API on aiohttp, over the same data plane.

Handlers only parse the URL and JSON, call the data plane, and write JSON; every
ServingError becomes `{"error": "..."}` with its HTTP status in `_answers_errors`.
Bodies nesting deeper than MAX_JSON_DEPTH, or whose arrays would exceed the data
plane's `max_request_tensor_bytes`, are refused before they are built; bodies over
INLINE_BODY_BYTES are parsed, built and answered on a worker thread, not the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import numpy as np
from aiohttp import web
from google.protobuf import json_format
from prometheus_client import CONTENT_TYPE_LATEST
from tensorflow_serving.apis import get_model_metadata_pb2

from contract.defaults import MAX_MESSAGE_BYTES
from serving.connections import ConnectionLimits, GuardedConnection, RestConnections
from serving.dataplane import SIGNATURE_DEF_FIELD, DataPlane, Request
from serving.deadlines import set_deadline
from serving.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ResourceExhausted,
)
from serving.http_answers import answers_errors, call, dumps, json_answer, json_text
from serving.inference import CLASSIFY_METHOD, REGRESS_METHOD
from serving.json_codec import (
    DEFAULT_MAX_PARSED_BODY_BYTES,
    MAX_JSON_DEPTH,
    classify_json,
    examples_input,
    parse_body,
    predict_inputs,
    predict_response,
    regress_json,
)
from serving.oip_rest import OipRest
from serving.prediction_logs import arrays_bytes, example_log, predict_log
from serving.responses import metadata_response, status_response

logger = logging.getLogger(__name__)

# TF Serving's REST paths (model_servers/http_rest_api_util.cc): matched ignoring case,
# with RE2's \d (ASCII digits only) for versions, read by absl::SimpleAtoi as an int64.
_MODEL_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?$",
    re.ASCII | re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1
# Bodies and answers larger than this are decoded and encoded off the event loop;
# smaller ones take less time than a hop to a thread and back.
INLINE_BODY_BYTES = 64 * 1024


def _answer_bytes(outputs: dict[str, np.ndarray]) -> int:
    """Roughly what the outputs take, to decide where to encode them."""
    return sum(np.asarray(value).nbytes for value in outputs.values())


def _proto_json(message) -> dict:
    """A proto as TF Serving writes it: field names as in the .proto, defaults included."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def _metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> dict:
    """GetModelMetadataResponse as TF Serving's REST API writes it
    (model_servers/http_rest_api_util.cc): the SignatureDefMap unpacked from its Any,
    so without the "@type" key a generic Any would carry."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signatures)
    return {"model_spec": _proto_json(response.model_spec),
            "metadata": {SIGNATURE_DEF_FIELD: _proto_json(signatures)}}


def _signature_name(body: object) -> str:
    """The body's `signature_name` ("" for the default); InvalidArgument, as TF
    Serving answers, when it is there but not a string."""
    if not isinstance(body, dict) or "signature_name" not in body:
        return ""
    name = body["signature_name"]
    if not isinstance(name, str):
        raise InvalidArgument(f"JSON Value: {dumps(name)[:200]} not formatted correctly. "
                              "'signature_name' key must be a string value.")
    return name


class BodyBudget:
    """Bytes of REST bodies received and handled at once: a body that would take the
    total past `limit` is refused with RESOURCE_EXHAUSTED before it is read, so many
    large uploads at once cannot exhaust memory (one body alone always fits)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    @contextlib.contextmanager
    def reserve(self, nbytes: int):
        if self.used and self.used + nbytes > self.limit:
            raise ResourceExhausted(
                f"REST bodies of {self.used} bytes are being handled, and this one's "
                f"{nbytes} would pass the server's limit of {self.limit} bytes at once "
                "(--rest_max_body_bytes_in_flight); retry with backoff")
        self.used += nbytes
        try:
            yield
        finally:
            self.used -= nbytes


class RestApi:
    """The REST routes of TF Serving, bound to a DataPlane."""

    def __init__(self, dataplane: DataPlane, metrics_path: str | None = None,
                 timeout_seconds: float = 30.0, max_body_bytes: int = MAX_MESSAGE_BYTES,
                 max_body_bytes_in_flight: int = 128 * 1024 * 1024,
                 max_parsed_bytes: int = DEFAULT_MAX_PARSED_BODY_BYTES):
        self._dataplane = dataplane
        self._metrics_path = metrics_path
        self._timeout = timeout_seconds
        self._max_body_bytes = max_body_bytes
        self._bodies = BodyBudget(max_body_bytes_in_flight)
        self._max_parsed_bytes = max_parsed_bytes

    def app(self, middlewares: list = ()) -> web.Application:
        app = web.Application(client_max_size=self._max_body_bytes,
                              middlewares=list(middlewares))
        models = "/{v:[vV]1}/{models:[mM][oO][dD][eE][lL][sS]}/{tail:.*}"  # any case
        app.router.add_get(models, self.get)
        app.router.add_post(models, self.post)
        OipRest(self._dataplane, self.with_body).add_routes(app)
        if self._metrics_path:
            app.router.add_get(self._metrics_path, self.metrics)
        return app

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._dataplane.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    def _route(request: web.Request) -> dict:
        match = _MODEL_URL.match(request.path)
        if not match:
            raise InvalidArgument(f"Malformed request: {request.method} {request.path} (use "
                                  "/v1/models/NAME[/versions/N|/labels/L][/metadata|"
                                  ":predict|:classify|:regress])")
        route = match.groupdict()
        version = route["version"]
        digits = version.lstrip("0") if version else ""
        if len(digits) > 19 or (digits and int(digits) > _INT64_MAX):  # never int() 5000
            raise InvalidArgument(f"Failed to convert version: {version} to numeric.")
        route["version"] = int(digits or "0") if version else None
        route["verb"] = route["verb"] and route["verb"].lower()
        return route

    @answers_errors
    async def get(self, request: web.Request) -> web.Response:
        route = self._route(request)
        if route["verb"]:
            raise InvalidArgument(f":{route['verb']} needs POST with a JSON body")
        if route["metadata"]:
            servable = self._dataplane.metadata(route["name"], route["version"],
                                                route["label"], [SIGNATURE_DEF_FIELD])
            return json_answer(_metadata_json(metadata_response(servable)))
        states = self._dataplane.status(route["name"], route["version"], route["label"])
        return json_answer(_proto_json(status_response(states)))

    @answers_errors
    async def post(self, request: web.Request) -> web.Response:
        route = self._route(request)
        if not route["verb"]:
            raise InvalidArgument(f"POST {request.path}: expected a :predict, :classify or "
                                  ":regress URL")

        async def handle(raw: bytes) -> web.Response:
            body = await call(len(raw) > INLINE_BODY_BYTES, parse_body, raw, MAX_JSON_DEPTH,
                              self._max_parsed_bytes)
            return await self._answer(route, _signature_name(body), body, len(raw))

        return await self.with_body(request, handle)

    async def with_body(self, request: web.Request, handle) -> web.Response:
        """`handle(body bytes)` within the REST limits: the body counts against
        --rest_max_body_bytes_in_flight until answered, and the whole request against
        --rest_api_timeout_in_ms, which is also where its graph is stopped."""
        with self._bodies.reserve(self._body_bytes(request)):
            set_deadline(self._timeout)
            try:
                async with asyncio.timeout(self._timeout):
                    return await handle(await request.read())
            except TimeoutError as e:
                raise DeadlineExceeded(f"request took longer than --rest_api_timeout_in_ms="
                                       f"{int(self._timeout * 1000)}") from e

    def _body_bytes(self, request: web.Request) -> int:
        """What a body will take once read: its length, unless it is compressed (aiohttp
        inflates it, up to the body limit) or of unknown length."""
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if request.content_length is None or encoding != "identity":
            return self._max_body_bytes
        return request.content_length

    async def _answer(self, route: dict, signature: str, body: object,
                      size: int) -> web.Response:
        large = size > INLINE_BODY_BYTES
        if route["verb"] == "predict":
            return await self._predict(route, signature, body, size)
        method = CLASSIFY_METHOD if route["verb"] == "classify" else REGRESS_METHOD
        request_input = await call(large, examples_input, body)
        answer, result = await self._dataplane.classify_or_regress(
            method, route["name"], route["version"], route["label"], signature, request_input)
        self._dataplane.log_request(
            answer, "classify_log" if method == CLASSIFY_METHOD else "regress_log",
            lambda: example_log(method, answer, request_input, result),
            lambda: request_input.ByteSize() + result.ByteSize())
        to_json = classify_json if method == CLASSIFY_METHOD else regress_json
        return json_text(await call(large, lambda: dumps(to_json(result))))

    async def _predict(self, route: dict, signature: str, body: object,
                       size: int) -> web.Response:
        formats, read_inputs = [], []  # the body's format (rows or columns); its inputs

        def read(servable, key, signature_def) -> dict[str, np.ndarray]:
            inputs, fmt = predict_inputs(body, signature_def,
                                         self._dataplane.max_request_tensor_bytes)
            formats.append(fmt)
            read_inputs.append(inputs)
            return inputs

        answer = await self._dataplane.infer(Request(
            route["name"], route["version"], route["label"], signature, read, size))
        outputs = answer.outputs
        self._dataplane.log_request(
            answer, "predict_log", lambda: predict_log(answer, read_inputs[0]),
            lambda: arrays_bytes(read_inputs[0]) + arrays_bytes(outputs))
        fmt, large = formats[0], size > INLINE_BODY_BYTES
        large = large or _answer_bytes(outputs) > INLINE_BODY_BYTES
        return json_text(await call(large, lambda: dumps(predict_response(outputs, fmt))))


async def start_rest(dataplane: DataPlane, host: str, port: int, max_body_bytes: int,
                     metrics_path: str | None = None, middlewares: list = (),
                     timeout_seconds: float = 30.0,
                     max_body_bytes_in_flight: int = 128 * 1024 * 1024,
                     max_parsed_bytes: int = DEFAULT_MAX_PARSED_BODY_BYTES,
                     limits: ConnectionLimits | None = None,
                     ) -> tuple[web.AppRunner, int]:
    """Starts the REST API on `host:port` (0: a free port), with Prometheus metrics at
    `metrics_path` if given, its connections bounded by `limits`; returns the runner to
    stop it with and the bound port."""
    limits = limits or ConnectionLimits()
    api = RestApi(dataplane, metrics_path, timeout_seconds, max_body_bytes,
                  max_body_bytes_in_flight, max_parsed_bytes)
    runner = web.AppRunner(api.app([*middlewares, _tracks_requests]), access_log=None,
                           keepalive_timeout=limits.idle_timeout)
    await runner.setup()
    site = _GuardedSite(runner, host, port, RestConnections(
        runner.server, limits.connections(4), limits.header_timeout))
    await site.start()
    return runner, runner.addresses[0][1]


@web.middleware
async def _tracks_requests(request: web.Request, handler):
    """Tells the connection's guard a request is being handled (no header deadline)."""
    connection = getattr(request.transport, "get_protocol", lambda: None)()
    tracked = isinstance(connection, GuardedConnection)
    if tracked:
        connection.request_started()
    try:
        return await handler(request)
    finally:
        if tracked:
            connection.request_ended()


class _GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a RestConnections factory."""

    def __init__(self, runner: web.AppRunner, host: str, port: int,
                 connections: RestConnections):
        super().__init__(runner)
        self._host, self._port, self._connections = host, port, connections

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._connections, self._host, self._port, reuse_address=True)
