"""TimeBudget ends `fit` before its minutes run out, between or within epochs, on the
clock it is given (a fake one here: each reading advances it, nothing sleeps)."""

from __future__ import annotations

import keras
import numpy as np

from models.time_budget import TimeBudget


class Clock:
    """A clock that advances `step` seconds at each reading, and counts its readings."""

    def __init__(self, step: float):
        self.step, self.now, self.readings = step, 0.0, 0

    def __call__(self) -> float:
        self.now += self.step
        self.readings += 1
        return self.now


def fit(budget: TimeBudget, epochs: int = 5, batches: int = 4) -> keras.callbacks.History:
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((batches * 8, 2), np.float32)
    return model.fit(x, x[:, :1], batch_size=8, epochs=epochs, verbose=0, callbacks=[budget])


def test_a_clock_that_stands_still_lets_every_epoch_run():
    budget = TimeBudget(1, clock=lambda: 0.0)
    assert len(fit(budget).epoch) == 5
    assert budget.report() == {"max_minutes": 1, "stopped_training": False,
                               "after_epochs": None}


def test_training_stops_before_the_next_epoch_would_overrun():
    # each reading is one second on: an epoch of 4 batches reads the clock 6 times,
    # so after epoch 2 (12 s) the next one would end past the 15-second budget
    clock = Clock(1.0)
    budget = TimeBudget(15 / 60, clock=clock)
    history = fit(budget, epochs=10)
    assert len(history.epoch) == 2
    assert budget.report() == {"max_minutes": 0.25, "stopped_training": True,
                               "after_epochs": 2}


def test_a_long_epoch_is_cut_once_the_budget_is_spent():
    clock = Clock(60.0)  # a minute a reading: the budget is spent after the first batch
    budget = TimeBudget(1.5, clock=clock)
    history = fit(budget, epochs=3, batches=50)
    assert len(history.epoch) == 1 and history.history["loss"]  # still closed normally
    assert clock.readings < 10  # a few batches, not 50
    assert budget.report()["after_epochs"] == 1


def test_the_last_epoch_is_not_counted_as_a_stop():
    budget = TimeBudget(0.1, clock=Clock(1.0))  # 6 s: enough for one epoch of 4 batches
    assert len(fit(budget, epochs=1).epoch) == 1
    assert not budget.report()["stopped_training"]
