"""Quiet by default: no absl, CUDA or oneDNN lines from any `tfstack` command, run
with none of TensorFlow's logging variables set; `-v` shows TensorFlow's logs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tfstack.quiet import filtered_stderr

NOISE = re.compile(r"absl::InitializeLog|cuda drivers|cudart|oneDNN|cpu_feature_guard|cuInit"
                   r"|^[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]")
CLEAN = {name: value for name, value in os.environ.items()
         if not name.startswith(("TF_CPP_", "TF_ENABLE_ONEDNN", "GRPC_"))}


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], env=CLEAN, capture_output=True, text=True,
                          timeout=300)


def noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if NOISE.search(line)]


def test_a_client_command_prints_only_its_error():
    result = run("-m", "tfstack.command", "status", "--server", "127.0.0.1:1", "--deadline", "5")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: UNAVAILABLE: cannot reach a model server at 127.0.0.1:1")


def test_commands_that_load_tensorflow_are_quiet_and_verbose_shows_its_logs(tmp_path):
    # `tfstack serve` loads TensorFlow, then finds its config file missing
    serve = ("-m", "tfstack.command", "serve", f"--model_config_file={tmp_path}/none.config",
             "--port=0", "--rest_api_port=0")
    result = run(*serve)
    assert result.returncode == 255 and "cannot start the server" in result.stderr
    assert noise(result.stderr) == []
    assert run("-m", "tfstack.command", "train", "--help").stderr == ""
    if not noise(run("-c", "import tensorflow").stderr):
        pytest.skip("this TensorFlow prints nothing while it loads")
    verbose = run("-m", "tfstack.command", "-v", *serve[2:])
    assert verbose.returncode == 255 and noise(verbose.stderr)


def test_only_the_lines_filtered_by_the_log_level_are_dropped(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    lines = [b"WARNING: All log messages before absl::InitializeLog() is called are written "
             b"to STDERR\n",
             b"I0000 00:00:1796225884.911781   21245 cudart_stub.cc:31] Could not find cuda\n",
             b"W1202 16:01:12.507000    7 port.cc:153] a warning\n",
             b"E0000 00:00:1796225884.911781   21245 cuda_platform.cc:52] an error\n",
             b"F0000 00:00:1796225884.911781   21245 logging.cc:1] fatal\n",
             b"Traceback (most recent call last): a line of its own\n"]
    with filtered_stderr():
        for line in lines:
            os.write(2, line)
    assert capfd.readouterr().err.encode() == b"".join(lines[3:])


FILTERED_CHILD = """
import os, sys
from tfstack.quiet import filter_stderr_from_now_on
filter_stderr_from_now_on()
os.write(2, b"W0000 00:00:1796388005.957525 5302 op_level_cost_estimator.cc:699] Error in "
            b"PredictCost() for the op\\n")
print("a line of the command's own", file=sys.stderr, flush=True)
os.write(2, b"F0000 00:00:1796225884.911781 21245 logging.cc:1] fatal\\n")
if sys.argv[1:] == ["abort"]:
    os.abort()
"""


@pytest.mark.parametrize("ending", ["exit", "abort"])
def test_stderr_stays_filtered_after_the_import_and_a_crash_loses_no_line(ending):
    # TensorFlow logs through absl at run time whatever TF_CPP_MIN_LOG_LEVEL says
    result = subprocess.run([sys.executable, "-c", FILTERED_CHILD, ending],
                            env={**CLEAN, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True,
                            timeout=60)
    assert result.returncode == (0 if ending == "exit" else -6)
    assert result.stderr.decode().splitlines() == [
        "a line of the command's own", "F0000 00:00:1796225884.911781 21245 logging.cc:1] fatal"]
