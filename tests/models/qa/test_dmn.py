"""The DMN+: attention gates over real facts only, save/load, and learned behaviour
on held-out bAbI task 1."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.qa.babi import Example, load_tasks
from models.qa.dmn import build_dmn
from models.qa.layers import EpisodicMemory, TemporalEncoding
from models.qa.trainer import evaluate, load_trained, strongest_on_supporting
from tests.models.harness import run_model_saving_test, run_model_test


def random_inputs(facts_used=(3, 5), facts=6, words=5, vocab=20):
    rng = np.random.default_rng(0)
    fact_ids = np.zeros((len(facts_used), facts, words), np.int32)
    for row, used in enumerate(facts_used):
        fact_ids[row, :used, :3] = rng.integers(2, vocab, (used, 3))
    question = rng.integers(2, vocab, (len(facts_used), words)).astype(np.int32)
    return {"fact_ids": fact_ids, "question_ids": question}


VARIANTS = [dict(input_fusion="gru", temporal=False),
            dict(input_fusion="residual", temporal=True),
            dict(input_fusion="attention", temporal=True),
            dict(input_fusion="none", temporal=True),
            dict(input_fusion="none", temporal=True, episode="sum", update="add")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_gates_sum_to_one_over_real_facts_and_are_zero_on_padding(variant):
    model = build_dmn(vocab_size=20, answer_size=4, max_facts=6, max_words=5, units=16,
                      **variant)
    outputs = model.predict(random_inputs(), verbose=0)
    gates = outputs["gates"]
    assert gates.shape == (2, 3, 6) and outputs["answer"].shape == (2, 4)
    np.testing.assert_allclose(gates.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(gates[0, :, 3:] == 0) and np.all(gates[1, :, 5:] == 0)
    np.testing.assert_allclose(outputs["answer"].sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_load_gives_same_outputs(tmp_path, variant):
    model = build_dmn(vocab_size=20, answer_size=4, max_facts=6, max_words=5, units=16,
                      **variant)
    if variant.get("temporal"):  # its vectors start at zero; make them count
        layer = model.get_layer("temporal_encoding")
        layer.ages.assign(np.random.default_rng(1).normal(size=layer.ages.shape))
    run_model_saving_test(model, random_inputs(), tmp_path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_facts_to_any_length_leaves_the_outputs_alone(variant):
    # Training cuts each batch to its longest story; serving pads to max_facts.
    model = build_dmn(vocab_size=20, answer_size=4, max_facts=9, max_words=5, units=16,
                      **variant)
    if variant.get("temporal"):
        layer = model.get_layer("temporal_encoding")
        layer.ages.assign(np.random.default_rng(1).normal(size=layer.ages.shape))
    short, long = random_inputs(facts=5), random_inputs(facts=9)
    padded = model.predict(long, verbose=0)
    assert padded["gates"].shape == (2, 3, 9)
    run_model_test(model, short, {"answer": (2, 4), "gates": (2, 3, 5)}, padded_inputs=long,
                   unpad=lambda out: {**out, "gates": out["gates"][..., :5]})


def test_attention_fusion_lets_each_fact_take_in_the_other_facts_of_its_story():
    model = build_dmn(vocab_size=20, answer_size=4, max_facts=6, max_words=5, units=16,
                      input_fusion="attention", temporal=True)
    fused = keras.Model(model.inputs, model.get_layer("fusion_norm").output)
    inputs = random_inputs()
    changed = {**inputs, "fact_ids": inputs["fact_ids"].copy()}
    changed["fact_ids"][1, 0, :3] = (changed["fact_ids"][1, 0, :3] + 1) % 18 + 2
    before, after = fused.predict(inputs, verbose=0), fused.predict(changed, verbose=0)
    assert np.abs(before[1, 1:5] - after[1, 1:5]).max(axis=-1).min() > 1e-4
    np.testing.assert_allclose(before[0], after[0], rtol=1e-5, atol=1e-6)


def test_unknown_input_fusion_is_refused():
    with pytest.raises(ValueError, match="input_fusion must be one of"):
        build_dmn(vocab_size=20, answer_size=4, max_facts=6, max_words=5, input_fusion="x")


@pytest.mark.parametrize("setting", [dict(episode="lstm"), dict(update="tanh")])
def test_unknown_memory_read_or_update_is_refused(setting):
    with pytest.raises(ValueError, match="must be one of"):
        EpisodicMemory(units=4, **setting)


def test_summed_episodes_added_to_the_question_make_the_memory():
    rng = np.random.default_rng(2)
    facts = rng.normal(size=(2, 5, 4)).astype(np.float32)
    mask = np.array([[True] * 3 + [False] * 2, [True] * 5])
    question = rng.normal(size=(2, 4)).astype(np.float32)
    layer = EpisodicMemory(units=4, passes=2, episode="sum", update="add")
    memory, gates = (np.asarray(t) for t in layer(facts, mask, question))
    expected = question + np.einsum("btf,bfu->bu", gates, facts)
    np.testing.assert_allclose(memory, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(gates[:, 0], gates[:, 1])  # pass 2 sees the new memory
    names = {w.path for w in layer.weights}
    assert not any("attention_gru" in n or "memory_update" in n for n in names), names


def test_temporal_encoding_counts_age_back_from_the_last_real_fact():
    layer = TemporalEncoding(max_facts=4)
    facts = np.zeros((2, 4, 3), np.float32)
    layer.build(facts.shape)
    layer.ages.assign(np.arange(12, dtype=np.float32).reshape(4, 3))
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    out = np.asarray(layer(facts, mask))
    np.testing.assert_array_equal(out[0, :2], [[3, 4, 5], [0, 1, 2]])  # ages 1, 0
    np.testing.assert_array_equal(out[1], [[9, 10, 11], [6, 7, 8], [3, 4, 5], [0, 1, 2]])


@pytest.mark.babi
def test_task_1_is_learned_with_attention_on_the_supporting_fact(trained_qa):
    assert trained_qa.task_accuracy[1] >= 0.95  # held-out test file
    assert trained_qa.task_attention[1] > 0.8  # last pass on the supporting fact
    model, preprocessor, answers = load_trained(trained_qa.model_dir)
    test = load_tasks([1], "test")[:300]
    accuracy, attention = evaluate(model, preprocessor, answers, test)
    assert accuracy[1] >= 0.95 and attention[1] > 0.8


def test_strongest_gate_is_matched_to_supporting_facts_of_truncated_stories():
    examples = [Example(1, ("a", "b", "c"), "q", ("x",), (1,)),
                Example(1, tuple("abcdef"), "q", ("x",), (4,)),  # window: its last 3 facts
                Example(1, tuple("abcdef"), "q", ("x",), (1,))]
    gates = np.zeros((3, 2, 3), np.float32)
    gates[0, -1, 1] = gates[1, -1, 1] = gates[2, -1, 1] = 1.0  # window fact 1
    gates[0, 0, 0] = 2.0  # only the last pass counts
    np.testing.assert_array_equal(strongest_on_supporting(gates, examples, max_facts=3),
                                  [True, True, False])
