"""TimeBudget ends `fit` before its minutes run out, between or within epochs."""

from __future__ import annotations

import time

import keras
import numpy as np

from models.time_budget import TimeBudget


class Slow(keras.callbacks.Callback):
    """Makes each batch take at least 50 ms, and counts them."""

    batches = 0

    def on_train_batch_end(self, batch, logs=None):
        Slow.batches += 1
        time.sleep(0.05)


def fit(minutes: float, epochs: int = 50, batches: int = 4) -> keras.callbacks.History:
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((batches * 8, 2), np.float32)
    return model.fit(x, x[:, :1], batch_size=8, epochs=epochs, verbose=0,
                     callbacks=[Slow(), TimeBudget(minutes)])


def test_training_stops_before_the_next_epoch_would_overrun():
    # an epoch takes >= 0.2 s; 1 s of budget leaves room for at most 5 epochs
    history = fit(minutes=1 / 60)
    assert 1 <= len(history.epoch) <= 5


def test_a_long_epoch_is_cut_once_the_budget_is_spent():
    Slow.batches = 0
    history = fit(minutes=0.3 / 60, epochs=1, batches=200)  # 10 s of batches, 0.3 s budget
    assert Slow.batches < 200
    assert history.history["loss"]  # the epoch was still closed normally
