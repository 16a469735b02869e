"""Exporting the translator: raw sentences in; translation, score, attention out.

`serving_default` decodes by beam search and `greedy` greedily, both inside the
graph, so one Predict call translates a whole batch. Each sentence is first cut to
`max_sentence_bytes` and its words to `MAX_WORD_CHARS` characters, so neither the work
nor the answer (which copies unknown words through) grows with what was sent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from contract.endpoints import DEFAULT_SIGNATURE, GREEDY_SIGNATURE, TRANSLATOR
from export.repository import write_version
from export.text_caps import BYTES_PER_TOKEN, first_bytes, short_words
from export.warmup import predict_log, write_warmup
from models.translation.trainer import load_trained
from models.translation.translator import Translator

logger = logging.getLogger(__name__)

WARMUP_SENTENCES = ("Wo ist der Bahnhof?", "Ich habe keine Zeit.")


def max_sentence_bytes(translator: Translator) -> int:
    """Bytes of a sentence the served graph reads: a generous 32 a source position."""
    return BYTES_PER_TOKEN * translator.preprocessor.max_source_length


def translator_archive(translator: Translator) -> keras.export.ExportArchive:
    """Tokenization, the network and both decoders in one graph, behind the cuts."""
    translator.preprocessor(tf.constant([""]))  # builds it, so it can be tracked
    limit = max_sentence_bytes(translator)

    def translate(text: tf.Tensor, greedy: bool) -> dict[str, tf.Tensor]:
        return translator.translate(short_words(first_bytes(text, limit)), greedy)

    archive = keras.export.ExportArchive()
    archive.track(translator.model)
    archive.track(translator.preprocessor)
    for name, greedy in ((DEFAULT_SIGNATURE, False), (GREEDY_SIGNATURE, True)):
        signature = TRANSLATOR.signature(name)
        archive.add_endpoint(
            name, lambda text, greedy=greedy: translate(text, greedy),
            [tf.TensorSpec([None], tf.string, name=spec.key) for spec in signature.inputs])
    return archive


def export_translator(model_dir: str | Path = "artifacts/translator",
                      repository: str | Path = "model_repository",
                      beam_width: int = 4, alpha: float = 1.0) -> tuple[int, Path]:
    """Writes the trained translator as the next version of `<repository>/translator`."""
    translator = load_trained(model_dir, beam_width, alpha)
    archive = translator_archive(translator)
    text = np.array([s.encode() for s in WARMUP_SENTENCES], dtype=object)
    warmup = [predict_log(TRANSLATOR.model_name, name, {"text": text})
              for name in (DEFAULT_SIGNATURE, GREEDY_SIGNATURE)]

    def write(path: Path) -> None:
        archive.write_out(str(path), verbose=False)
        write_warmup(path, warmup)

    version, path = write_version(Path(repository) / TRANSLATOR.model_name, write)
    logger.info("exported %s version %d to %s", TRANSLATOR.model_name, version, path)
    return version, path
