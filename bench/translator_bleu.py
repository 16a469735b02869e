"""sacreBLEU and chrF of the translator on the held-out Tatoeba de-en test split:
Bahdanau attention vs the no-attention baseline at the same budget, greedy vs beam
search, BLEU on the Ding dictionary's sentences (out of domain), and training time.

    python bench/translator_bleu.py [--profile full|quick] [--variants attention,baseline]
    python bench/translator_bleu.py --metrics RUN/metrics.json ...   # print finished runs

Each variant is trained with `tfstack train translator --profile P --seed S` (same
data, time budget and sizes) into a scratch folder; the table compares their test
scores. Settings are chosen on the validation column, never on test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from models.translation.config import PROFILES, TranslatorTrainConfig

# The settings that make a profile (epochs, time budget and patience may be overridden).
PROFILE_KEYS = ("units", "embedding_dim", "max_vocabulary", "max_train_words", "batch_size",
                "learning_rate", "dropout", "word_dropout", "label_smoothing")

VARIANTS = {
    "attention": [],
    "baseline": ["--no-attention"],
    "baseline-reversed": ["--no-attention", "--reverse-source"],
    "subwords": ["--subwords", "--max-vocabulary", "4000"],
    "subwords-baseline": ["--no-attention", "--subwords", "--max-vocabulary", "4000"],
}


def train(profile: str, flags: list[str], out: str, seed: int) -> dict:
    """Runs the training command; returns its metrics.json."""
    subprocess.run(
        [str(Path(sys.executable).with_name("tfstack")), "train", "translator",
         "--profile", profile, "--seed", str(seed), "--output-dir", out, *flags],
        check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads((Path(out) / "metrics.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=("full", "quick"))
    parser.add_argument("--variants", default="attention,baseline",
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--metrics", nargs="+", type=Path,
                        help="print these finished runs' metrics.json instead of training")
    args = parser.parse_args()
    if args.metrics:
        rows = [(path.parent.name, json.loads(path.read_text())) for path in args.metrics]
    else:
        rows = []
        for name in args.variants.split(","):
            with tempfile.TemporaryDirectory() as out:
                rows.append((name, train(args.profile, VARIANTS[name], out, args.seed)))
    print_table(rows)
    return 0


def print_table(rows: list[tuple[str, dict]]) -> None:
    pairs, corpus = rows[0][1]["pairs"], rows[0][1].get("corpus") or {}
    print(f"{os.cpu_count()} cpu cores; corpus {corpus.get('release', '?')} "
          f"({corpus.get('pairs', '?')} pairs): {pairs['train']} training pairs, "
          f"{pairs['test']} test pairs (every English translation of a source is a reference)")
    print(f"{'run':18s} {'profile':>7s} {'seed':>5s} {'BLEU greedy':>11s} {'BLEU beam 4':>11s} "
          f"{'chrF beam':>9s} {'val. beam':>9s} {'Ding beam':>9s} {'epochs':>6s} "
          f"{'minutes':>7s}")
    for name, m in rows:
        config, ood = m["config"], m.get("bleu_out_of_domain")
        print(f"{name:18s} {_profile(config):>7s} {config['seed']:5d} {m['bleu_greedy']:11.2f} "
              f"{m['bleu_beam']:11.2f} {m.get('chrf_beam', 0.0):9.2f} "
              f"{m['bleu_validation']:9.2f} {'-' if ood is None else f'{ood:.2f}':>9s} "
              f"{m['epochs_run']:6d} {m['seconds'] / 60:7.1f}")
    with_attention = [m for _, m in rows if m["config"]["attention"]]
    without = [m for _, m in rows if not m["config"]["attention"]]
    if with_attention and without:
        gain = with_attention[0]["bleu_beam"] - without[0]["bleu_beam"]
        print(f"attention - no attention: {gain:+.2f} BLEU (beam, test)")


def _profile(config: dict) -> str:
    """The profile whose model and data settings the run used (its epochs and time
    budget may have been overridden), or "custom"."""
    defaults = asdict(TranslatorTrainConfig())
    for name, settings in PROFILES.items():
        expected = {**defaults, **settings}
        if all(config.get(key) == expected[key] for key in PROFILE_KEYS):
            return name
    return "custom"

if __name__ == "__main__":
    sys.exit(main())
