"""The DMN+ building blocks: positional sentence encoding, the attention-based GRU
and the episodic memory (Xiong, Merity & Socher 2016)."""

from __future__ import annotations

import keras
from keras import ops

from models.qa.config import EPISODES, UPDATES


@keras.saving.register_keras_serializable(package="tfstack")
class PositionalEncoder(keras.layers.Layer):
    """Sums a fact's word embeddings weighted by position (DMN+ eq. 1), so word order
    counts without a recurrent sentence reader.

    Call: `(embedded [batch, facts, words, dim], word_mask [batch, facts, words])` ->
    `[batch, facts, dim]`.
    """

    def call(self, embedded, word_mask):
        words, dim = ops.shape(embedded)[-2], ops.shape(embedded)[-1]
        j = ops.cast(ops.arange(1, words + 1), "float32")[:, None] / ops.cast(words, "float32")
        d = ops.cast(ops.arange(1, dim + 1), "float32")[None, :] / ops.cast(dim, "float32")
        weights = (1 - j) - d * (1 - 2 * j)  # (words, dim)
        mask = ops.cast(word_mask, embedded.dtype)[..., None]
        return ops.sum(embedded * weights * mask, axis=-2)  # (batch, facts, dim)


@keras.saving.register_keras_serializable(package="tfstack")
class TemporalEncoding(keras.layers.Layer):
    """Adds a learned vector for each fact's age (0 = the most recent fact), as in the
    temporal encoding of end-to-end memory networks: order without a recurrent reader.

    Args:
        max_facts: int. Ages go up to `max_facts - 1`.

    Call: `(facts [batch, F, dim], fact_mask [batch, F])` -> `[batch, F, dim]`.
    """

    def __init__(self, max_facts: int, **kwargs):
        super().__init__(**kwargs)
        self.max_facts = max_facts

    def build(self, facts_shape, fact_mask_shape=None):
        self.ages = self.add_weight(shape=(self.max_facts, facts_shape[-1]),
                                    initializer="zeros", name="ages")

    def call(self, facts, fact_mask):
        count = ops.sum(ops.cast(fact_mask, "int32"), axis=-1, keepdims=True)  # (batch, 1)
        age = ops.clip(count - 1 - ops.arange(ops.shape(facts)[1])[None, :], 0,
                       self.max_facts - 1)  # (batch, F)
        return facts + ops.take(self.ages, age, axis=0)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_facts": self.max_facts}


@keras.saving.register_keras_serializable(package="tfstack")
class AttentionGRUCell(keras.layers.Layer):
    """A GRU whose update gate is the attention gate g of each fact (DMN+ eq. 10-12).

    Args:
        units: int. State size.

    Input at each step: `[fact ; g]`, shape `(batch, dim + 1)`.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.reset = keras.layers.Dense(units, activation="sigmoid", name="reset")
        self.candidate_input = keras.layers.Dense(units, name="candidate_input")
        self.candidate_state = keras.layers.Dense(units, use_bias=False, name="candidate_state")

    def build(self, input_shape):
        dim = input_shape[-1] - 1
        self.reset.build((None, dim + self.units))
        self.candidate_input.build((None, dim))
        self.candidate_state.build((None, self.units))

    def call(self, inputs, states):
        fact, gate = inputs[:, :-1], inputs[:, -1:]
        state = states[0]
        reset = self.reset(ops.concatenate([fact, state], axis=-1))
        candidate = ops.tanh(self.candidate_input(fact) + reset * self.candidate_state(state))
        new = gate * candidate + (1 - gate) * state  # (batch, units)
        return new, [new]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfstack")
class EpisodicMemory(keras.layers.Layer):
    """Several passes over the facts: attention gates from fact/question/memory
    interactions (softmax over real facts), an episode read with them, and a memory
    update per pass (DMN+ sections 3.3-3.4).

    Args:
        units: int. Size of facts, question and memory.
        passes: int. Episodes computed.
        episode: str. "gru": the DMN+ attention-based GRU over the facts; "sum": the
            gate-weighted sum of the facts (DMN+'s soft attention), which keeps the
            episode in the facts' own space.
        update: str. "relu": the DMN+ untied ReLU layer per pass over memory, episode
            and question; "add": memory plus episode, as end-to-end memory networks
            update their query, so the next pass can match facts against what the last
            one found (with "sum", the words of the fact it attended to).

    Call: `(facts [batch, F, units], fact_mask [batch, F], question [batch, units])` ->
    `(memory [batch, units], gates [batch, passes, F])`.
    """

    def __init__(self, units: int, passes: int = 3, episode: str = "gru",
                 update: str = "relu", **kwargs):
        super().__init__(**kwargs)
        for name, value, choices in (("episode", episode, EPISODES),
                                     ("update", update, UPDATES)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        self.supports_masking = True  # facts arrive masked; fact_mask is passed explicitly
        self.units, self.passes, self.episode_kind, self.update = units, passes, episode, update
        self.attend_hidden = keras.layers.Dense(units, activation="tanh", name="attend_hidden")
        self.attend_score = keras.layers.Dense(1, name="attend_score")
        self.episode = (keras.layers.RNN(AttentionGRUCell(units), name="attention_gru")
                        if episode == "gru" else None)
        self.updates = [keras.layers.Dense(units, activation="relu", name=f"memory_update_{t}")
                        for t in range(passes if update == "relu" else 0)]

    def build(self, facts_shape, fact_mask_shape=None, question_shape=None):
        units = self.units
        self.attend_hidden.build((None, None, 4 * units))
        self.attend_score.build((None, None, units))
        if self.episode is not None:
            self.episode.build((None, facts_shape[1], units + 1))
        for update in self.updates:
            update.build((None, 3 * units))
        self.built = True

    def call(self, facts, fact_mask, question):
        memory = question
        gates = []
        for t in range(self.passes):
            gate = self._gate(facts, fact_mask, question, memory)  # (batch, F)
            episode = self._read(facts, fact_mask, gate)  # (batch, units)
            memory = (memory + episode if self.update == "add" else
                      self.updates[t](ops.concatenate([memory, episode, question], axis=-1)))
            gates.append(gate)
        return memory, ops.stack(gates, axis=1)  # (batch, units), (batch, passes, F)

    def _gate(self, facts, fact_mask, question, memory):
        """Softmax over the real facts of scores from their interactions with the
        question and the memory; 0 on padding."""
        q, m = question[:, None, :], memory[:, None, :]
        z = ops.concatenate([facts * q, facts * m, ops.abs(facts - q),
                             ops.abs(facts - m)], axis=-1)  # (batch, F, 4*units)
        scores = ops.squeeze(self.attend_score(self.attend_hidden(z)), -1)  # (batch, F)
        scores = ops.where(fact_mask, scores, -1e9)
        return ops.softmax(scores, axis=-1) * ops.cast(fact_mask, facts.dtype)

    def _read(self, facts, fact_mask, gate):
        """The episode: what the pass takes from the facts it attends to."""
        if self.episode is None:
            return ops.sum(facts * gate[..., None], axis=1)
        return self.episode(ops.concatenate([facts, gate[..., None]], axis=-1), mask=fact_mask)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "passes": self.passes,
                "episode": self.episode_kind, "update": self.update}
