"""The exported translator: the wire contract, the same decoding as in-process, warm-up
records, core ops only, and inputs a person might send (empty, huge, bad bytes); for
a translator on words and one on subwords."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from contract.defaults import WARMUP_PATH
from contract.endpoints import DEFAULT_SIGNATURE, GREEDY_SIGNATURE, TRANSLATOR
from export.text_caps import MAX_WORD_CHARS
from export.translator import max_sentence_bytes
from models.translation.trainer import load_trained
from tests.models.harness import run_export_serving_test

pytestmark = pytest.mark.trans

SENTENCES = ["Abgemacht!", "Er zuckte die Achseln.", "Wo ist der Bahnhof?", "Ach ja?"]


@pytest.fixture(scope="module", params=["words", "subwords"])
def tokens(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def trained(request, tokens):
    return request.getfixturevalue("trained_translator" if tokens == "words"
                                   else "trained_subword_translator")


@pytest.fixture(scope="module")
def version_dir(request, tokens):
    repository = ("translator_repository" if tokens == "words"
                  else "subword_translator_repository")
    return request.getfixturevalue(repository) / "translator" / "1"


@pytest.fixture(scope="module")
def loaded(version_dir):
    return tf.saved_model.load(str(version_dir))


def translate(loaded, texts, signature=DEFAULT_SIGNATURE):
    outputs = loaded.signatures[signature](text=tf.constant(texts, tf.string))
    return {k: v.numpy() for k, v in outputs.items()}


def test_both_signatures_match_the_wire_contract_and_use_core_ops(version_dir):
    meta_graph = saved_model_pb2.SavedModel.FromString(
        (version_dir / "saved_model.pb").read_bytes()).meta_graphs[0]
    for name in (DEFAULT_SIGNATURE, GREEDY_SIGNATURE):
        exported, contract = meta_graph.signature_def[name], TRANSLATOR.signature(name)
        for specs, tensors in ((contract.inputs, exported.inputs),
                               (contract.outputs, exported.outputs)):
            assert {s.key: s.dtype for s in specs} == {
                k: types_pb2.DataType.Name(v.dtype) for k, v in tensors.items()}
    ops = {node.op for f in meta_graph.graph_def.library.function for node in f.node_def}
    ops |= {node.op for node in meta_graph.graph_def.node}
    ops -= {f.signature.name for f in meta_graph.graph_def.library.function}
    assert "While" in ops or "StatelessWhile" in ops  # decoding runs in the graph
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == []


@pytest.mark.parametrize("signature,greedy", [(DEFAULT_SIGNATURE, False),
                                              (GREEDY_SIGNATURE, True)])
def test_exported_decoding_equals_the_keras_model(loaded, trained, signature, greedy):
    expected = load_trained(trained.model_dir).translate(tf.constant(SENTENCES), greedy)
    out = translate(loaded, SENTENCES, signature)
    assert out["translation"].tolist() == expected["translation"].numpy().tolist()
    np.testing.assert_array_equal(out["target_tokens"], expected["target_tokens"])
    np.testing.assert_array_equal(out["source_tokens"], expected["source_tokens"])
    np.testing.assert_allclose(out["score"], expected["score"], atol=1e-4)
    np.testing.assert_allclose(out["attention"], expected["attention"], atol=1e-4)


def test_the_served_version_answers_as_the_export(translator_repository):
    # on words only: the subword export differs in its graph, which the tests above
    # compare in process; the server runs both graphs alike
    text = np.array([s.encode() for s in SENTENCES], dtype=object)
    run_export_serving_test(translator_repository / "translator" / "1", {
        DEFAULT_SIGNATURE: {"text": text}, GREEDY_SIGNATURE: {"text": text}})


def test_attention_is_labelled_by_tokens_and_zero_beyond_them(loaded):
    out = translate(loaded, SENTENCES)
    for attention, source, target in zip(out["attention"], out["source_tokens"],
                                         out["target_tokens"], strict=True):
        words, positions = (target != b"").sum(), (source != b"").sum()
        assert source[positions - 1] == b"</s>"
        np.testing.assert_allclose(attention[:words, :positions].sum(-1), 1.0, atol=1e-4)
        assert not attention[words:].any() and not attention[:, positions:].any()


def test_empty_huge_and_undecodable_inputs_get_answers(loaded, trained):
    limit = load_trained(trained.model_dir).preprocessor.max_source_length
    texts = ["", " ".join(["Abgemacht!"] * 5000), b"Wo \xff\xfe ist er?", "Ｆｕｌｌ ﬁ"]
    out = translate(loaded, texts)
    assert out["translation"].shape == (4,) and np.all(np.isfinite(out["score"]))
    assert out["source_tokens"][0].tolist()[0] == b"</s>"
    assert (out["source_tokens"][1] != b"").sum() == limit  # truncated, </s> kept last
    assert b"\xef\xbf\xbd" in b" ".join(out["source_tokens"][2])  # U+FFFD
    words = b" ".join(out["source_tokens"][3]).replace(b" ##", b"").split()
    assert b"full" in words and b"fi" in words  # NFKC, then split into pieces or not
    assert translate(loaded, [])["translation"].shape == (0,)


def test_a_sentence_is_read_up_to_its_byte_limit_only(loaded, trained):
    limit = max_sentence_bytes(load_trained(trained.model_dir))
    plain = "Wo ist der Bahnhof?"
    out = translate(loaded, [plain, plain + " " * limit + "Abgemacht! " * 1_000_000])
    np.testing.assert_array_equal(out["source_tokens"][1], out["source_tokens"][0])
    assert out["translation"][1] == out["translation"][0]


def test_a_huge_word_is_cut_and_so_are_its_copies_in_the_answer(loaded, trained, tokens):
    max_tokens = load_trained(trained.model_dir).preprocessor.max_target_length
    out = translate(loaded, ["Ä" * 2_000_000, "Wo ist Zorgblatt" + "x" * 4_000_000 + "?"])
    cut = ["ä" * MAX_WORD_CHARS,  # normalised after the cut: lower case, 2 bytes a letter
           "wo ist zorgblatt" + "x" * (MAX_WORD_CHARS - 9)]
    for source, expected in zip(out["source_tokens"], cut, strict=True):
        words = b" ".join(source).replace(b" ##", b"").decode().split()
        assert words[-1] == "</s>"
        if tokens == "words":
            assert " ".join(words[:-1]) == expected
        else:  # pieces, up to the model's positions
            assert expected.startswith(" ".join(words[:-1]))
    for answer, target in zip(out["translation"], out["target_tokens"], strict=True):
        assert max(len(token.decode()) for token in target) <= MAX_WORD_CHARS
        assert len(answer.decode()) <= max_tokens * (MAX_WORD_CHARS + 1)


def test_warmup_records_cover_both_signatures_and_run(version_dir, loaded):
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir.joinpath(*WARMUP_PATH)
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(str(path))]
    requests = [log.predict_log.request for log in logs]
    assert {r.model_spec.signature_name for r in requests} == {DEFAULT_SIGNATURE,
                                                              GREEDY_SIGNATURE}
    for request in requests:
        text = tf.make_ndarray(request.inputs["text"])
        assert loaded.signatures[request.model_spec.signature_name](
            text=tf.constant(text))["translation"].shape == (len(text),)
