"""Running `tfstack serve` as a child process on a free port: for end-to-end tests,
benchmarks and scripts that need a real server for a while."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time

_LISTENING = re.compile(r"Running gRPC ModelServer at ([\d.]+):(\d+)")
_REST = re.compile(r"Exporting HTTP/REST API at ([\d.]+):(\d+)")


def free_port() -> int:
    """A TCP port free on loopback right now (for flags where 0 means 'off')."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """Starts `tfstack serve --port=0 ARGS...`, learns its port from its log, and
    stops it with SIGTERM on exit (recording the exit status in `returncode`).

    Example:
    >>> with ServerProcess("--model_name=m", "--model_base_path=repo/m") as server:
    ...     ServingClient(server.target).status("m")
    """

    def __init__(self, *args: str, startup_seconds: float = 120.0, cwd: str | None = None):
        self.args = args
        self.cwd = cwd
        self.startup_seconds = startup_seconds
        self.log: list[str] = []
        self.target = ""
        self.rest_url = ""
        self.returncode: int | None = None
        self._terminated = False

    def __enter__(self) -> "ServerProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serving", "--port=0", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.cwd,
        )
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read_log, args=(ready,), daemon=True)
        self._reader.start()
        if not ready.wait(self.startup_seconds) or not self.target:
            self.process.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.log[-40:]))
        return self

    def _read_log(self, ready: threading.Event) -> None:
        for line in self.process.stdout:
            self.log.append(line)
            rest = _REST.search(line)
            if rest:
                self.rest_url = f"http://{rest.group(1)}:{rest.group(2)}"
            match = _LISTENING.search(line)
            if match:
                self.target = f"{match.group(1)}:{match.group(2)}"
                ready.set()
        ready.set()

    def terminate(self) -> None:
        """Asks the server to drain and exit, once: a second SIGTERM arriving after its
        handlers are gone would kill it instead of letting it finish."""
        if not self._terminated:
            self._terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        """Terminates the server (if not yet asked), waits for it and returns its exit status."""
        if self.returncode is None:
            self.terminate()
            deadline = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.process.poll() is None:
                self.process.kill()
            self.returncode = self.process.wait()
            self._reader.join(5)  # the last log lines
        return self.returncode

    def __exit__(self, *exc) -> None:
        self.stop()
