"""Keeping TensorFlow's native start-up noise off a command's stderr.

`TF_CPP_MIN_LOG_LEVEL=3` (with `TF_ENABLE_ONEDNN_OPTS=0`, which `tfstack` always
sets), set before TensorFlow loads, silences its C++ logs once it runs. It cannot
silence what its shared libraries print while they load, before TensorFlow reads
it: absl's
"WARNING: All log messages before absl::InitializeLog() is called are written to
STDERR" and the CUDA stub's "Could not find cuda drivers on your machine" (once per
library). So while `tensorflow` is first imported, file descriptor 2 goes to a
temporary file; afterwards every line of it that is not an absl log line filtered
by TF_CPP_MIN_LOG_LEVEL goes to stderr, in order. Once loaded, parts of TensorFlow
still log through absl whatever TF_CPP_MIN_LOG_LEVEL says (grappler's "Error in
PredictCost()" on every new graph), so from then on file descriptor 2 runs through a
small filter process, which outlives a crash and so loses no fatal line. Imports nothing
heavy.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile

QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called"
# I0000 00:00:1796225884.911781   21245 cudart_stub.cc:31] Could not find cuda ...
# (the time reads so while absl is not initialised; 16:01:12.507 once it is)
_ABSL_LINE = re.compile(rb"([IWEF])\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] ")
_LEVELS = {b"I": 0, b"W": 1, b"E": 2, b"F": 4}  # F(atal) is never filtered


def quiet_tensorflow() -> None:
    """Sets the variables of `QUIET_ENVIRONMENT` the user has not set, and filters
    the start-up lines of TensorFlow's first import (if it is not imported yet)."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def is_noise(line: bytes, min_level: int) -> bool:
    """Whether `line` is one TensorFlow would not print at TF_CPP_MIN_LOG_LEVEL `min_level`."""
    if line.startswith(_ABSL_PREAMBLE):
        return min_level > 0
    match = _ABSL_LINE.match(line)
    return bool(match) and _LEVELS[match.group(1)] < min_level


@contextlib.contextmanager
def filtered_stderr():
    """Runs the block with file descriptor 2 in a temporary file, then writes the
    lines that are not noise to the real stderr."""
    min_level = _min_level()
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to keep clean
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if not is_noise(line, min_level))
            if kept:
                os.write(2, kept)


def filter_stderr_from_now_on() -> None:
    """Sends file descriptor 2 through a child process that drops the noise lines and
    writes the rest to the real stderr; the child ends when this process's last copy
    of the descriptor closes (at exit, or at a crash, after the last line)."""
    sys.stderr.flush()
    try:
        real_stderr = os.dup(2)
        child = subprocess.Popen(
            [sys.executable, "-c", _FILTER_PROGRAM, str(_min_level())],
            stdin=subprocess.PIPE, stdout=2, stderr=subprocess.DEVNULL,
            start_new_session=True)  # a Ctrl-C for this process does not stop it
    except OSError:  # no stderr, or no process to spare: unfiltered, as with -v
        return
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()

    @atexit.register
    def _drain() -> None:  # the lines written so far reach the terminal before exit
        sys.stderr.flush()
        os.dup2(real_stderr, 2)  # ours closes the pipe; late lines go straight out
        try:  # (a child process of ours may still hold the pipe open)
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()


def forward_filtered(min_level: int) -> None:
    """The filter process: copies its stdin to its stdout a line at a time, less the
    noise lines; a Ctrl-C is for the process whose stderr it carries, not for it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin.buffer:
        if not is_noise(line, min_level):
            os.write(1, line)


_FILTER_PROGRAM = "import sys; from tfstack.quiet import forward_filtered as f; f(int(sys.argv[1]))"


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as usual, with a loader that runs it under `filtered_stderr`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and not for the lookup below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            with filtered_stderr():
                self._loader.exec_module(module)
            filter_stderr_from_now_on()
        finally:  # the module keeps its own loader, as if nothing had been in between
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
