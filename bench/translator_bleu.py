"""sacreBLEU of the translator on the held-out de-en test split: Bahdanau attention vs
the no-attention baseline at the same budget, greedy vs beam search, and training time.

    python bench/translator_bleu.py [--profile full|quick] [--variants attention,baseline]

Each variant is trained with `tfstack train translator --profile P` (seeded, same
epochs, data and sizes; with `full`, both also train on the dictionary's word and phrase
pairs) into a scratch folder; the table compares their test BLEU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VARIANTS = {
    "attention": [],
    "baseline": ["--no-attention"],
    "baseline-reversed": ["--no-attention", "--reverse-source"],
    "subwords": ["--subwords", "--max-vocabulary", "4000"],
    "subwords-baseline": ["--no-attention", "--subwords", "--max-vocabulary", "4000"],
}


def train(profile: str, flags: list[str], out: str) -> dict:
    """Runs the training command; returns its metrics.json."""
    subprocess.run(
        [str(Path(sys.executable).with_name("tfstack")), "train", "translator",
         "--profile", profile, "--output-dir", out, *flags],
        check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads((Path(out) / "metrics.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=("full", "quick"))
    parser.add_argument("--variants", default="attention,baseline",
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    args = parser.parse_args()
    rows = []
    for name in args.variants.split(","):
        with tempfile.TemporaryDirectory() as out:
            rows.append((name, train(args.profile, VARIANTS[name], out)))
    pairs = rows[0][1]["pairs"]
    print(f"profile {args.profile}, {os.cpu_count()} cpu cores, {pairs['train']} training "
          f"sentence pairs + {pairs.get('lexicon', 0)} dictionary phrases, "
          f"{pairs['test']} held-out pairs")
    print(f"{'variant':18s} {'BLEU greedy':>11s} {'BLEU beam 4':>11s} {'val. beam':>9s} "
          f"{'epochs':>6s} {'minutes':>7s}")
    for name, metrics in rows:
        print(f"{name:18s} {metrics['bleu_greedy']:11.2f} {metrics['bleu_beam']:11.2f} "
              f"{metrics['bleu_validation']:9.2f} {metrics['epochs_run']:6d} "
              f"{metrics['seconds'] / 60:7.1f}")
    if len(rows) > 1:
        gain = rows[0][1]["bleu_beam"] - rows[1][1]["bleu_beam"]
        print(f"{rows[0][0]} - {rows[1][0]}: {gain:+.2f} BLEU (beam)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
