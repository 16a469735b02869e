"""Time from `tfstack serve` starting to every model AVAILABLE, and its resident memory.

    python bench/startup.py [--repository model_repository]

Serves every model folder of the repository (each with its newest version) and
reports the seconds until the server listens (it loads and warms up all models
first), each version's load time, and the server's resident set size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# isort: off
import workload  # noqa: F401  (quiets TensorFlow's logs)
# isort: on
from clients.client import ServingClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.launcher
from tests.launcher import ServerProcess  # noqa: E402


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    args = parser.parse_args()
    roots = sorted(p for p in Path(args.repository).iterdir()
                   if p.is_dir() and any(c.name.isdigit() for c in p.iterdir()))
    if not roots:
        sys.exit(f"no models in {args.repository}; run `make up` first")
    config = Path(args.repository) / ".bench-models.config"
    config.write_text("model_config_list {\n" + "".join(
        f'  config {{ name: "{r.name}" base_path: "{r.resolve()}" }}\n' for r in roots) + "}\n")
    try:
        started = time.perf_counter()
        with ServerProcess(f"--model_config_file={config}") as server:
            ready = time.perf_counter() - started
            memory = resident_mib(server.process.pid)
            with ServingClient(server.target) as client:
                states = {r.name: client.status(r.name) for r in roots}
    finally:
        config.unlink(missing_ok=True)
    print(f"models             {', '.join(r.name for r in roots)}")
    print(f"start to serving   {ready:6.1f} s (all models loaded and warmed up)")
    print(f"resident memory    {memory:6.0f} MiB")
    for name, versions in states.items():
        print(f"  {name}: " + ", ".join(f"v{v.version} {v.state}" for v in versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
