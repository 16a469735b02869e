"""Taking turns on the graph threads: while others wait, the requests of one caller (a
connection) run on at most `share` of the threads; waiting requests start in arrival
order, the first of a caller under its share going first. Alone, a caller may use
them all, so one busy client keeps every thread working."""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Callable

# Who the request being handled came from: each transport sets it to the connection's
# peer before calling the data plane; in-process callers share the default.
CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")


class FairShare:
    """At most `threads` turns at once; a caller over `share` of them starts another
    only when no other caller is waiting."""

    def __init__(self, threads: int, share: int):
        if not 1 <= share <= threads:
            raise ValueError(f"a caller's share must be 1 to {threads} threads, got {share}")
        self.threads, self.share = threads, share
        self.running: collections.Counter[str] = collections.Counter()
        self._waiting: collections.deque[tuple[str, asyncio.Future]] = collections.deque()

    def waiting(self, caller: str) -> int:
        return sum(1 for who, _ in self._waiting if who == caller)

    async def acquire(self, caller: str) -> Callable[[], None]:
        """Waits for one of `caller`'s turns; returns the callback that ends it (once)."""
        if sum(self.running.values()) < self.threads and not self._waiting:
            self._start(caller)
        else:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append((caller, turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # started as it was cancelled
                    self._end(caller)
                else:
                    self._waiting.remove((caller, turn))
                raise
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                self._end(caller)

        return end

    def _start(self, caller: str) -> None:
        self.running[caller] += 1

    def _end(self, caller: str) -> None:
        self.running[caller] -= 1
        if not self.running[caller]:
            del self.running[caller]
        self._dispatch()

    def _dispatch(self) -> None:
        """Starts waiters while threads are free: the first under its share, else (no
        one under its share is waiting) the first in line."""
        while self._waiting and sum(self.running.values()) < self.threads:
            chosen = next((entry for entry in self._waiting
                           if self.running[entry[0]] < self.share), self._waiting[0])
            self._waiting.remove(chosen)
            caller, turn = chosen
            self._start(caller)
            turn.set_result(None)
