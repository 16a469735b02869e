"""The DMN+: attention gates over real facts only, save/load, and learned behaviour
on held-out bAbI task 1."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.qa.babi import load_tasks
from models.qa.dmn import build_dmn
from models.qa.trainer import encode, load_trained


def random_inputs(facts_used=(3, 5), facts=6, words=5, vocab=20):
    rng = np.random.default_rng(0)
    fact_ids = np.zeros((len(facts_used), facts, words), np.int32)
    for row, used in enumerate(facts_used):
        fact_ids[row, :used, :3] = rng.integers(2, vocab, (used, 3))
    question = rng.integers(2, vocab, (len(facts_used), words)).astype(np.int32)
    return {"fact_ids": fact_ids, "question_ids": question}


def test_gates_sum_to_one_over_real_facts_and_are_zero_on_padding():
    model = build_dmn(vocab_size=20, answer_size=4, max_facts=6, max_words=5, units=16)
    outputs = model.predict(random_inputs(), verbose=0)
    gates = outputs["gates"]
    assert gates.shape == (2, 3, 6) and outputs["answer"].shape == (2, 4)
    np.testing.assert_allclose(gates.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(gates[0, :, 3:] == 0) and np.all(gates[1, :, 5:] == 0)
    np.testing.assert_allclose(outputs["answer"].sum(axis=-1), 1.0, rtol=1e-5)


def test_save_load_gives_same_outputs(tmp_path):
    model = build_dmn(vocab_size=20, answer_size=4, max_facts=6, max_words=5, units=16)
    model.save(tmp_path / "dmn.keras")
    loaded = keras.models.load_model(tmp_path / "dmn.keras")
    inputs = random_inputs()
    for key in ("answer", "gates"):
        np.testing.assert_allclose(loaded.predict(inputs, verbose=0)[key],
                                   model.predict(inputs, verbose=0)[key], rtol=1e-5, atol=1e-6)


@pytest.mark.babi
def test_task_1_is_learned_with_attention_on_the_supporting_fact(trained_qa):
    assert trained_qa.task_accuracy[1] >= 0.95  # held-out test file
    model, preprocessor, answers = load_trained(trained_qa.model_dir)
    test = load_tasks([1], "test")[:300]
    x, _ = encode(preprocessor, test, answers)
    last_pass = model.predict(x, verbose=0)["gates"][:, -1].argmax(axis=-1)
    hits = np.mean([strongest in e.supporting for strongest, e in zip(last_pass, test,
                                                                      strict=True)])
    assert hits > 0.8
