"""Exporting the question-answering DMN+: strings in, answer and attention out.

A story is first cut to the lines that start within its last `story_bytes` and a
question to its first `question_bytes` (both from what the model reads: `max_facts`
facts of `max_words` words), so neither the work nor the echoed facts grow with what
was sent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from contract.endpoints import DEFAULT_SIGNATURE, QA
from export.repository import write_version
from export.text_caps import BYTES_PER_TOKEN, first_bytes, last_lines
from export.warmup import predict_log, write_warmup
from models.qa.preprocessor import BabiPreprocessor
from models.qa.trainer import load_trained

logger = logging.getLogger(__name__)


def question_bytes(preprocessor: BabiPreprocessor) -> int:
    """Bytes of a question the served graph reads: a generous 32 a word it keeps."""
    return BYTES_PER_TOKEN * preprocessor.max_words


def story_bytes(preprocessor: BabiPreprocessor) -> int:
    """Bytes of a story the served graph reads: `question_bytes` a fact it keeps."""
    return question_bytes(preprocessor) * preprocessor.max_facts


def qa_archive(model: keras.Model, preprocessor: BabiPreprocessor,
               answers: list[str]) -> keras.export.ExportArchive:
    """Tokenization, the DMN+ and the answer lookup in one graph."""
    names = tf.constant(answers)
    signature = QA.signature(DEFAULT_SIGNATURE)
    fixed = model.get_layer("fact_ids").output.shape[1]  # set in models saved before 202ef7f

    def serve(story: tf.Tensor, question: tf.Tensor) -> dict[str, tf.Tensor]:
        story = last_lines(story, story_bytes(preprocessor))
        question = first_bytes(question, question_bytes(preprocessor))
        fact_ids, question_ids, facts = preprocessor(story, question)
        if fixed is not None:  # such a model takes exactly `fixed` facts: pad to them
            pad = [[0, 0], [0, fixed - tf.shape(facts)[1]]]
            fact_ids = tf.ensure_shape(tf.pad(fact_ids, pad + [[0, 0]]), [None, fixed, None])
            facts = tf.pad(facts, pad, constant_values="")
        outputs = model({"fact_ids": fact_ids, "question_ids": question_ids}, training=False)
        probabilities = outputs["answer"]  # (batch, answers)
        return {"answer": tf.gather(names, tf.argmax(probabilities, axis=-1)),
                "probability": tf.reduce_max(probabilities, axis=-1),
                "gates": outputs["gates"], "facts": facts}

    preprocessor(tf.constant([""]), tf.constant([""]))  # builds it, so it can be tracked
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(preprocessor)
    archive.add_endpoint(DEFAULT_SIGNATURE, serve,
                         [tf.TensorSpec([None], tf.string, name=spec.key)
                          for spec in signature.inputs])
    return archive


def export_qa(model_dir: str | Path = "artifacts/qa",
              repository: str | Path = "model_repository") -> tuple[int, Path]:
    """Writes the trained DMN+ as the next version of `<repository>/qa`."""
    model, preprocessor, answers = load_trained(model_dir)
    archive = qa_archive(model, preprocessor, answers)
    warmup = predict_log(QA.model_name, DEFAULT_SIGNATURE, {
        "story": np.array([b"Mary moved to the bathroom.\nJohn went to the hallway."],
                          dtype=object),
        "question": np.array([b"Where is Mary?"], dtype=object)})

    def write(path: Path) -> None:
        archive.write_out(str(path), verbose=False)
        write_warmup(path, [warmup])

    version, path = write_version(Path(repository) / QA.model_name, write)
    logger.info("exported %s version %d to %s", QA.model_name, version, path)
    return version, path
