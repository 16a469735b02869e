"""CORS on the REST API, as TF Serving's HTTP server does it (model_servers/http_server.cc
and http_rest_api_util.cc): preflights on the model API are answered whether or not CORS
is on, and `--rest_api_enable_cors_support` adds the allow headers to every answer."""

from __future__ import annotations

import re

from aiohttp import web

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
_MODEL_API = re.compile(r"^/v1/models(?:/|$)", re.IGNORECASE)
_WEB_ORIGIN = re.compile(r"https?://")


def cors_middleware(enabled: bool):
    """An aiohttp middleware, to run outermost: answers OPTIONS on `/v1/models...` (200
    for an http(s) Origin, else 400, empty bodies) and, if `enabled`, adds the CORS
    headers to every answer, errors included."""

    @web.middleware
    async def cors(request: web.Request, handler) -> web.StreamResponse:
        if request.method == "OPTIONS" and _MODEL_API.match(request.path):
            origin = request.headers.get("Origin", "")
            response = web.Response(status=200 if _WEB_ORIGIN.search(origin) else 400)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as e:  # aiohttp's own 404 and 405
                if enabled:
                    e.headers.update(CORS_HEADERS)
                raise
        if enabled:
            response.headers.update(CORS_HEADERS)
        return response

    return cors
