"""The Dynamic Memory Network (Kumar et al. 2016) with the DMN+ input fusion and
memory of Xiong, Merity & Socher 2016, as one Keras functional model."""

from __future__ import annotations

import keras
from keras import ops

from models.qa.config import FUSIONS
from models.qa.layers import EpisodicMemory, PositionalEncoder, TemporalEncoding


def build_dmn(vocab_size: int, answer_size: int, max_facts: int, max_words: int,
              units: int = 80, passes: int = 3, dropout: float = 0.1,
              input_fusion: str = "gru", temporal: bool = False, episode: str = "gru",
              update: str = "relu") -> keras.Model:
    """A DMN+ over word ids (0 = padding, 1 = unknown word).

    Args:
        vocab_size: int. Word ids go up to `vocab_size + 1`.
        answer_size: int. Number of answers (multi-word answers are one answer each).
        max_facts: int. Most facts per story (the oldest age the temporal encoding
            knows); stories may come with fewer, padded to any length up to it.
        max_words: int. Words per fact and per question.
        units: int. Size of embeddings, facts, question and memory.
        passes: int. Episodic memory passes.
        dropout: float. Dropout on the fused facts and before the answer.
        input_fusion: str. "gru": the DMN+ bidirectional GRU over facts replaces
            them; "residual": its output is added to each fact, which keeps what the
            fact itself says; "attention": each fact attends to the others (4 heads,
            padding masked) and takes in what they say, added and layer-normalised;
            "none": facts are read independently (least to overfit).
        temporal: bool. Add a learned vector per fact age, so order is known even
            without input fusion.
        episode: str. How each pass reads the facts (see `EpisodicMemory`).
        update: str. How each pass updates the memory (see `EpisodicMemory`).

    Returns a model `{fact_ids, question_ids} -> {"answer": probabilities
    (batch, answer_size), "gates": attention (batch, passes, facts)}`.
    """
    fact_ids = keras.Input((None, max_words), dtype="int32", name="fact_ids")
    question_ids = keras.Input((max_words,), dtype="int32", name="question_ids")
    embedding = keras.layers.Embedding(vocab_size + 2, units, name="embedding")
    word_mask = ops.not_equal(fact_ids, 0)  # (batch, F, W)
    fact_mask = ops.any(word_mask, axis=-1)  # (batch, F)
    facts = PositionalEncoder(name="sentence_encoder")(embedding(fact_ids), word_mask)
    # (batch, F, units)
    if temporal:
        facts = TemporalEncoding(max_facts, name="temporal_encoding")(facts, fact_mask)
    if input_fusion not in FUSIONS:
        raise ValueError(f"input_fusion must be one of {FUSIONS}, got {input_fusion!r}")
    if input_fusion == "attention":
        pair = ops.logical_and(fact_mask[:, :, None], fact_mask[:, None, :])
        attention = keras.layers.MultiHeadAttention(4, max(units // 4, 1),
                                                    name="fusion_attention")
        facts = keras.layers.LayerNormalization(name="fusion_norm")(
            facts + attention(facts, facts, attention_mask=pair))
    elif input_fusion != "none":
        fused = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True), merge_mode="sum",
            name="input_fusion")(facts, mask=fact_mask)  # (batch, F, units)
        facts = fused if input_fusion == "gru" else facts + fused
    facts = keras.layers.Dropout(dropout, name="fact_dropout")(facts)
    question = keras.layers.GRU(units, name="question_gru")(
        embedding(question_ids), mask=ops.not_equal(question_ids, 0))  # (batch, units)
    memory, gates = EpisodicMemory(units, passes, episode, update, name="episodic_memory")(
        facts, fact_mask, question)  # (batch, units), (batch, passes, F)
    final = keras.layers.Dropout(dropout, name="answer_dropout")(
        ops.concatenate([memory, question], axis=-1))
    answer = keras.layers.Dense(answer_size, activation="softmax", name="answer")(final)
    gates = keras.layers.Identity(name="gates")(gates)
    return keras.Model([fact_ids, question_ids], {"answer": answer, "gates": gates},
                       name="dmn_plus")
