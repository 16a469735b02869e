"""Taking turns on the graph threads: the requests of one caller (a connection) run on
at most `share` threads at once and wait for their turn in arrival order, so a caller
sending many heavy requests cannot take every thread from the others."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field

# Who the request being handled came from: each transport sets it to the connection's
# peer before calling the data plane; in-process callers share the default.
CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")


@dataclass
class _Turns:
    semaphore: asyncio.Semaphore
    waiting_or_running: int = field(default=0)


class FairShare:
    """At most `share` turns at once per caller; asyncio's semaphores wake waiters in
    arrival order."""

    def __init__(self, share: int):
        if share < 1:
            raise ValueError(f"a caller's share of the threads must be at least 1, got {share}")
        self.share = share
        self._callers: dict[str, _Turns] = {}

    async def acquire(self, caller: str) -> Callable[[], None]:
        """Waits for one of `caller`'s turns; returns the callback that ends it (once)."""
        turns = self._callers.setdefault(caller, _Turns(asyncio.Semaphore(self.share)))
        turns.waiting_or_running += 1
        try:
            await turns.semaphore.acquire()
        except BaseException:
            self._leave(caller, turns)
            raise
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                turns.semaphore.release()
                self._leave(caller, turns)

        return end

    def _leave(self, caller: str, turns: _Turns) -> None:
        turns.waiting_or_running -= 1
        if not turns.waiting_or_running and self._callers.get(caller) is turns:
            del self._callers[caller]
