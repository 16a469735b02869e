"""Running the real `tfstack` command in a subprocess, optionally with some of the data
loaders' module settings replaced first (their system folders, official URLs), so a
test can give it a machine without the data and without the network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_tfstack(*argv: str, cwd: Path, env: dict[str, str | None] | None = None,
                settings: dict[str, dict[str, object]] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """`tfstack ARGV` (its `main`, as the console script calls it) with stdout and
    stderr together in `.stdout`; `env` adds variables (None: unset); `settings` maps a
    module to values of its attributes set before the command runs (`OFFICIAL_URL`)."""
    lines = ["import importlib, sys", "from pathlib import Path"]
    for module, values in (settings or {}).items():
        lines.append(f"module = importlib.import_module({module!r})")
        lines += [f"module.{name} = {_literal(value)}" for name, value in values.items()]
    lines += ["from tfstack.command import main", "sys.exit(main(sys.argv[1:]))"]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
                   "PYTHONPATH": str(ROOT), **(env or {})}
    environment = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run([sys.executable, "-c", "\n".join(lines), *argv], cwd=cwd,
                          env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def _literal(value: object) -> str:
    """Python source for a str, a Path or a list of Paths."""
    if isinstance(value, Path):
        return f"Path({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)
