"""What both REST APIs (TF Serving's /v1 and the Open Inference Protocol's /v2) answer
with: JSON bodies, and every ServingError as `{"error": "..."}` with its HTTP status."""

from __future__ import annotations

import asyncio
import functools
import json
import logging

from aiohttp import web

from serving.errors import ServingError, http_status
from serving.fairness import CALLER

logger = logging.getLogger(__name__)


def answers_errors(handler):
    """Turns ServingError into its HTTP status, and any other exception into 500, so
    no request can take the server down."""

    @functools.wraps(handler)
    async def wrapper(self, request: web.Request) -> web.Response:
        transport = request.transport
        CALLER.set(f"http:{transport.get_extra_info('peername') if transport else ''}")
        try:
            return await handler(self, request)
        except ServingError as e:
            return json_answer({"error": str(e)}, http_status(e))
        except Exception as e:  # noqa: BLE001 - the boundary of a request
            logger.exception("%s %s failed", request.method, request.path)
            return json_answer({"error": f"{type(e).__name__}: {e}"}, 500)

    return wrapper


def json_answer(body: dict, status: int = 200) -> web.Response:
    return json_text(dumps(body), status)


def json_text(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json")


def dumps(body: dict) -> str:
    # allow_nan: TF Serving writes NaN/Infinity for non-finite floats
    return json.dumps(body, allow_nan=True)


async def call(off_loop: bool, fn, *args):
    """`fn(*args)`, on a worker thread when `off_loop` (for large bodies)."""
    return await asyncio.to_thread(fn, *args) if off_loop else fn(*args)
