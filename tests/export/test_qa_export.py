"""The exported QA model: the wire contract, the same answers as the Keras model, and
inputs a person might send (empty, unknown words, very long stories)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from contract.endpoints import QA
from export.qa import qa_archive, question_bytes, story_bytes
from models.qa.babi import load_tasks
from models.qa.dmn import build_dmn
from models.qa.trainer import encode, load_trained
from tests.models.harness import run_export_serving_test

pytestmark = pytest.mark.babi


@pytest.fixture(scope="module")
def version_dir(qa_repository):
    return qa_repository / "qa" / "1"


@pytest.fixture(scope="module")
def serve(version_dir):
    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]


def ask(serve, stories, questions):
    return {k: v.numpy() for k, v in serve(story=tf.constant(stories),
                                           question=tf.constant(questions)).items()}


def test_signature_matches_the_wire_contract(version_dir):
    meta_graph = saved_model_pb2.SavedModel.FromString(
        (version_dir / "saved_model.pb").read_bytes()).meta_graphs[0]
    exported = meta_graph.signature_def["serving_default"]
    contract = QA.signature("serving_default")
    for specs, tensors in ((contract.inputs, exported.inputs),
                           (contract.outputs, exported.outputs)):
        assert {s.key: s.dtype for s in specs} == {
            k: types_pb2.DataType.Name(v.dtype) for k, v in tensors.items()}
    ops = {node.op for f in meta_graph.graph_def.library.function for node in f.node_def}
    ops -= {f.signature.name for f in meta_graph.graph_def.library.function}
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == []


def test_exported_answers_equal_the_keras_model(serve, trained_qa):
    model, preprocessor, answers = load_trained(trained_qa.model_dir)
    test = load_tasks([1], "test")[:64]
    x, _ = encode(preprocessor, test, answers)
    expected = model.predict(x, verbose=0)
    out = ask(serve, ["\n".join(e.facts) for e in test], [e.question for e in test])
    names = np.array(answers)[expected["answer"].argmax(-1)]
    assert [a.decode() for a in out["answer"]] == names.tolist()
    np.testing.assert_allclose(out["gates"], expected["gates"], atol=1e-5)
    np.testing.assert_allclose(out["probability"], expected["answer"].max(-1), rtol=1e-5)


def test_the_served_version_answers_as_the_export(version_dir):
    test = load_tasks([1], "test")[:16]
    run_export_serving_test(version_dir, {"serving_default": {
        "story": np.array(["\n".join(e.facts).encode() for e in test], dtype=object),
        "question": np.array([e.question.encode() for e in test], dtype=object)}})


def test_facts_label_the_gates(serve):
    out = ask(serve, ["Mary moved to the bathroom.\nJohn went to the hallway."],
              ["Where is Mary?"])
    assert out["answer"][0] == b"bathroom"
    assert out["facts"][0][:2].tolist() == [b"Mary moved to the bathroom.",
                                            b"John went to the hallway."]
    assert out["facts"].shape == (1, 2)  # padded only to the longest story sent
    assert out["gates"][0, -1].argmax() == 0


def test_a_model_saved_with_a_fixed_facts_axis_still_exports(trained_qa, tmp_path):
    # Models trained before facts were cut per batch took exactly max_facts facts.
    model, preprocessor, answers = load_trained(trained_qa.model_dir)
    inputs = {"fact_ids": keras.Input((preprocessor.max_facts, preprocessor.max_words),
                                      dtype="int32", name="fact_ids"),
              "question_ids": keras.Input((preprocessor.max_words,), dtype="int32",
                                          name="question_ids")}
    fixed = keras.Model(inputs, model(inputs))
    qa_archive(fixed, preprocessor, answers).write_out(str(tmp_path), verbose=False)
    serve = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    out = serve(story=tf.constant(["Mary moved to the bathroom.\nJohn went to the hallway."]),
                question=tf.constant(["Where is Mary?"]))
    assert out["answer"].numpy().tolist() == [b"bathroom"]
    assert out["facts"].shape == (1, preprocessor.max_facts)
    np.testing.assert_allclose(out["gates"].numpy().sum(-1), 1.0, rtol=1e-5)


def test_an_attention_fused_model_serves_what_keras_computes(trained_qa, tmp_path):
    trained, preprocessor, answers = load_trained(trained_qa.model_dir)
    keras.utils.set_random_seed(0)
    model = build_dmn(trained.get_layer("embedding").input_dim - 2, len(answers),
                      preprocessor.max_facts, preprocessor.max_words, units=16,
                      input_fusion="attention", temporal=True)
    qa_archive(model, preprocessor, answers).write_out(str(tmp_path), verbose=False)
    serve = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    test = [e for e in load_tasks([1], "test") if len(e.facts) in (2, 10)][:8]
    assert {len(e.facts) for e in test} == {2, 10}
    x, _ = encode(preprocessor, test, answers)
    expected = model.predict(x, verbose=0)
    stories, questions = ["\n".join(e.facts) for e in test], [e.question for e in test]
    out = ask(serve, stories, questions)
    np.testing.assert_allclose(out["gates"], expected["gates"], atol=1e-5)
    np.testing.assert_allclose(out["probability"], expected["answer"].max(-1), rtol=1e-5)
    # Sent alone, a short story is padded to its own length, not to the batch's longest.
    short = next(i for i, e in enumerate(test) if len(e.facts) == 2)
    alone = ask(serve, [stories[short]], [questions[short]])
    np.testing.assert_allclose(alone["gates"][0], out["gates"][short, :, :2], atol=1e-5)
    np.testing.assert_allclose(alone["probability"], out["probability"][short:short + 1],
                               rtol=1e-5)


def test_empty_unknown_and_over_long_inputs_get_answers(serve):
    long_story = "\n".join(["John went to the kitchen."] * 3000 + ["Mary moved to the garden."])
    out = ask(serve, ["", "Zorg blipped to the quasar.", long_story],
              ["Where is Mary?", "Whither zorg?", "Where is Mary?"])
    assert out["answer"].shape == (3,) and np.all(np.isfinite(out["probability"]))
    assert out["facts"][0].tolist() == [b""] * out["facts"].shape[1]
    assert out["answer"][2] == b"garden"  # the most recent facts are kept
    assert out["facts"][2][-1] == b"Mary moved to the garden."


def test_stories_and_questions_are_read_up_to_their_byte_limits(serve, trained_qa):
    preprocessor = load_trained(trained_qa.model_dir)[1]
    facts = "Mary moved to the bathroom.\nJohn went to the hallway."
    noise = "Sandra journeyed to the garden. " * 200_000  # one line of 6.4 MB
    question = "Where is Mary?"
    out = ask(serve, [facts, noise + "\n" + facts, facts],
              [question, question, question + " " * question_bytes(preprocessor)
               + "Where is John? " * 100_000])
    assert out["facts"][1].tolist() == out["facts"][0].tolist()  # the cut line is left out
    assert sum(len(fact) for fact in out["facts"][1]) <= story_bytes(preprocessor)
    assert out["answer"].tolist() == [b"bathroom"] * 3
    np.testing.assert_allclose(out["probability"][1:], out["probability"][0], rtol=1e-5)
    np.testing.assert_allclose(out["gates"][1:], out["gates"][:1].repeat(2, 0), atol=1e-5)
