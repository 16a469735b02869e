"""Fashion-MNIST test accuracy and wall time of `tfstack train classifier`.

    python bench/classifier_accuracy.py [--profile full|quick]

Trains with the command's defaults for the profile (seeded) into a scratch folder
and prints the held-out test accuracy and the wall time on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=("full", "quick"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        subprocess.run(
            [str(Path(sys.executable).with_name("tfstack")), "train", "classifier",
             "--profile", args.profile, "--output-dir", out],
            check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        wall = time.monotonic() - started
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    print(f"profile            {args.profile}")
    print(f"cpu cores          {os.cpu_count()}")
    print(f"epochs run         {metrics['epochs_run']}")
    print(f"test accuracy      {metrics['test_accuracy']:.4f}  (10,000 official test images)")
    print(f"wall time          {wall / 60:.1f} min (training alone {metrics['seconds'] / 60:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
