"""A request's deadline, set by its adapter (the gRPC deadline, REST's
--rest_api_timeout_in_ms) and read where its graph starts: TF Serving passes what is
left of it to Session::Run as RunOptions.timeout_in_ms, which stops the run there."""

from __future__ import annotations

import contextvars
import math
import time

# Absolute time.monotonic() by which the current request must end; None: no deadline.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "deadline", default=None)


def set_deadline(seconds_left: float | None) -> None:
    """Gives the current request `seconds_left` (None: no deadline)."""
    DEADLINE.set(None if seconds_left is None else time.monotonic() + seconds_left)


def timeout_ms(deadline: float | None) -> int | None:
    """What is left until `deadline`, in whole milliseconds rounded up (0 once it
    has passed); None without a deadline."""
    if deadline is None:
        return None
    return max(0, math.ceil((deadline - time.monotonic()) * 1000))


def latest(deadlines: list[float | None]) -> float | None:
    """The deadline a run for several requests keeps: the latest of theirs, none if
    any of them has none."""
    return None if not deadlines or None in deadlines else max(deadlines)
