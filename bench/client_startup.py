"""How long `tfstack status` takes, start to exit, and the memory it peaks at.

    python bench/client_startup.py [--runs 5] [--tfstack PATH]

Starts `tfstack serve` on a tiny model named `classifier` (so `tfstack status` asks
for all three endpoints: one served, two not), then runs `tfstack status` against
it a few times as a user would, a fresh process each, and prints each run's wall
time and maximum resident set size, then their median. `--tfstack` times another
install's command, e.g. a client-only one (`pip install tfstack`, no TensorFlow).
The client imports no TensorFlow, so the aim is half a second or less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess  # noqa: E402

TINY_MODEL = """
import sys
import tensorflow as tf

class Double(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def double(self, x):
        return {"y": 2 * x}

module = Double()
tf.saved_model.save(module, sys.argv[1], signatures={"serving_default": module.double})
"""


def write_tiny_model(path: Path) -> Path:
    """A SavedModel doubling its input: enough to be served and reported. Written by
    a child process, so that this one stays small: a child's peak memory counts the
    parent it was forked from."""
    subprocess.run([sys.executable, "-c", TINY_MODEL, str(path)], check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True)
    return path


def timed_run(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak resident MiB of one run of `command`, and its result."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # reaps it: this child's rusage only
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        result = subprocess.CompletedProcess(command, process.returncode,
                                             out.read().decode(), err.read().decode())
    return seconds, usage.ru_maxrss / 1024, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tfstack", default=str(Path(sys.executable).with_name("tfstack")),
                        help="the tfstack command to time (default: this venv's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        write_tiny_model(Path(folder) / "1")
        with ServerProcess("--model_name=classifier", f"--model_base_path={folder}") as server:
            command = [args.tfstack, "status", "--server", server.target]
            timed_run(command)  # one untimed run: the files in the page cache
            runs = [timed_run(command) for _ in range(args.runs)]
    for _, _, result in runs:
        if result.returncode != 0 or "classifier  version 1  AVAILABLE" not in result.stdout:
            print(f"tfstack status failed ({result.returncode}):\n{result.stderr}",
                  file=sys.stderr)
            return 1
    print(f"command        {' '.join(command[:2])} --server {command[-1]}")
    print(f"output         {runs[0][2].stdout.strip().replace(chr(10), ' | ')}")
    print(f"stderr         {runs[0][2].stderr.strip() or '(empty)'}")
    for number, (seconds, mib, _) in enumerate(runs, 1):
        print(f"run {number}          {seconds:6.3f} s   max RSS {mib:6.1f} MiB")
    print(f"median         {statistics.median(r[0] for r in runs):6.3f} s   max RSS "
          f"{statistics.median(r[1] for r in runs):6.1f} MiB   (aim: <= 0.5 s)")
    print(f"load average   {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
