"""Open Inference Protocol (KServe v2) over REST, on the REST port beside TF Serving's
/v1: health, server and model metadata, readiness, and `infer` with JSON tensors or
the binary tensor data extension (`Inference-Header-Content-Length`), which
`tritonclient.http` uses by default. Requests go down the data plane's one path."""

from __future__ import annotations

from aiohttp import web

from serving.classification import PARAMETER, class_count
from serving.dataplane import DataPlane, Request
from serving.errors import InvalidArgument, NotFound
from serving.http_answers import answers_errors, call, dumps, json_answer
from serving.json_codec import DEFAULT_MAX_PARSED_BODY_BYTES, MAX_JSON_DEPTH, parse_body
from serving.oip_tensors import (
    InputTensor,
    check_parameters,
    json_data,
    model_metadata,
    output_datatype,
    parse_version,
    raw_bytes,
    repository_index,
    to_arrays,
)
from serving.servable import DEFAULT_SIGNATURE

HEADER_LENGTH = "Inference-Header-Content-Length"
INLINE_BODY_BYTES = 64 * 1024
SERVER_NAME = "tfstack"
EXTENSIONS = ["binary_tensor_data", "classification"]  # and the repository index


class OipRest:
    """The /v2 routes, bound to a DataPlane; `with_body` runs a handler on a request's
    body within the REST limits (shared with /v1)."""

    def __init__(self, dataplane: DataPlane, with_body,
                 max_parsed_bytes: int = DEFAULT_MAX_PARSED_BODY_BYTES):
        self._dataplane = dataplane
        self._with_body = with_body
        self._max_parsed_bytes = max_parsed_bytes

    def add_routes(self, app: web.Application) -> None:
        model = "/v2/models/{model}"
        versioned = model + "/versions/{version}"
        app.router.add_get("/v2", self.server_metadata)
        app.router.add_get("/v2/health/live", self.live)
        app.router.add_get("/v2/health/ready", self.ready)
        for base in (model, versioned):
            app.router.add_get(base, self.model_metadata)
            app.router.add_get(base + "/ready", self.model_ready)
            app.router.add_post(base + "/infer", self.infer)
        app.router.add_post("/v2/repository/index", self.index)
        app.router.add_route("*", "/v2/{tail:.*}", self.unknown)

    @answers_errors
    async def index(self, request: web.Request) -> web.Response:
        async def handle(raw: bytes) -> web.Response:
            body = parse_body(raw, MAX_JSON_DEPTH, self._max_parsed_bytes) if raw else {}
            if not isinstance(body, dict) or not isinstance(body.get("ready", False), bool):
                raise InvalidArgument('a repository index request is a JSON object with an '
                                      'optional boolean "ready"')
            return json_answer(repository_index(self._dataplane, body.get("ready", False)))

        return await self._with_body(request, handle)

    @answers_errors
    async def unknown(self, request: web.Request) -> web.Response:
        raise NotFound(f"Malformed request: {request.method} {request.path}. Use /v2, "
                       "/v2/health/live|ready, or /v2/models/NAME[/versions/V][/ready] "
                       "(GET) and /v2/models/NAME[/versions/V]/infer (POST)")

    @answers_errors
    async def server_metadata(self, request: web.Request) -> web.Response:
        return json_answer({"name": SERVER_NAME, "version": server_version(),
                            "extensions": EXTENSIONS})

    @answers_errors
    async def live(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    @answers_errors
    async def ready(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self._dataplane.ready() else 400)

    @answers_errors
    async def model_ready(self, request: web.Request) -> web.Response:
        version, label = parse_version(request.match_info.get("version", ""))
        ready = self._dataplane.ready(request.match_info["model"], version, label)
        return web.Response(status=200 if ready else 400)

    @answers_errors
    async def model_metadata(self, request: web.Request) -> web.Response:
        version, label = parse_version(request.match_info.get("version", ""))
        servable = self._dataplane.repository.servable(request.match_info["model"], version,
                                                       label)
        return json_answer(model_metadata(servable, servable.signature(DEFAULT_SIGNATURE)))

    @answers_errors
    async def infer(self, request: web.Request) -> web.Response:
        version, label = parse_version(request.match_info.get("version", ""))

        async def handle(raw: bytes) -> web.Response:
            large = len(raw) > INLINE_BODY_BYTES
            header, binary = _split(raw, request.headers.get(HEADER_LENGTH))
            body = await call(large, parse_body, header, MAX_JSON_DEPTH,
                              self._max_parsed_bytes)
            tensors, wanted, binary_out, counts = _infer_request(body, binary)
            answer = await self._dataplane.infer(Request(
                request.match_info["model"], version, label,
                check_parameters(body.get("parameters") or {}),
                lambda *_: to_arrays(tensors, self._dataplane.max_request_tensor_bytes),
                len(raw), wanted, classification=counts))
            return await call(large, _response, body.get("id"), answer, binary_out)

        return await self._with_body(request, handle)


def server_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tfstack")
    except PackageNotFoundError:
        return "unknown"


def _split(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data after it."""
    if header_length is None:
        return raw, b""
    if not header_length.isdigit() or int(header_length) > len(raw):
        raise InvalidArgument(f"{HEADER_LENGTH} {header_length!r} is not a length within "
                              f"the {len(raw)}-byte body")
    return raw[:int(header_length)], raw[int(header_length):]


def _infer_request(body: object, binary: bytes):
    """The inputs of an infer body, the outputs it asks for, and which of those it
    wants as binary data."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InvalidArgument('an infer request is a JSON object with an "inputs" list')
    tensors, offset = [], 0
    for entry in body["inputs"]:
        if not isinstance(entry, dict):
            raise InvalidArgument("each of inputs must be a JSON object")
        name, datatype, shape = entry.get("name"), entry.get("datatype"), entry.get("shape")
        if not isinstance(name, str) or not isinstance(datatype, str) or not (
                isinstance(shape, list) and all(type(d) is int for d in shape)):
            raise InvalidArgument("each input needs a string name and datatype and a shape "
                                  "of integers")
        size = _parameters(entry).get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise InvalidArgument(f"input '{name}': binary_data_size {size!r} runs past "
                                      f"the {len(binary)} bytes of binary data")
            tensors.append(InputTensor(name, datatype, shape, raw=binary[offset:offset + size]))
            offset += size
        elif "data" in entry:
            tensors.append(InputTensor(name, datatype, shape, values=entry["data"]))
        else:
            raise InvalidArgument(f"input '{name}' has neither data nor binary_data_size")
    if offset != len(binary):
        raise InvalidArgument(f"{len(binary) - offset} bytes of binary data belong to no input")
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
        raise InvalidArgument('"outputs" must be a list of objects with a name')
    default = bool(_parameters(body).get("binary_data_output", False))
    binary_out = {o["name"]: bool(_parameters(o).get("binary_data", default)) for o in outputs}
    counts = {o["name"]: class_count(o["name"], _parameters(o)[PARAMETER])
              for o in outputs if PARAMETER in _parameters(o)}
    return tensors, [o["name"] for o in outputs], binary_out if outputs else default, counts


def _parameters(entry: dict) -> dict:
    parameters = entry.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidArgument('"parameters" must be a JSON object')
    return parameters


def _response(request_id, answer, binary_out) -> web.Response:
    """The infer answer: JSON, with the outputs asked for as binary appended after it."""
    body = {"model_name": answer.servable.name, "model_version": str(answer.servable.version),
            "outputs": []}
    if isinstance(request_id, str) and request_id:
        body["id"] = request_id
    chunks = []
    for name, array in answer.outputs.items():
        entry = {"name": name, "datatype": output_datatype(name, array),
                 "shape": list(array.shape)}
        wants_binary = binary_out.get(name, False) if isinstance(binary_out, dict) else binary_out
        if wants_binary:
            chunk = raw_bytes(array)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = json_data(name, array)
        body["outputs"].append(entry)
    header = dumps(body).encode()
    if not chunks:
        return web.Response(body=header, content_type="application/json")
    return web.Response(body=header + b"".join(chunks), content_type="application/octet-stream",
                        headers={HEADER_LENGTH: str(len(header))})
