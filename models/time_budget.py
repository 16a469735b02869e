"""A Keras callback that ends training before a wall-clock budget runs out: only when a
user asks for one (`--max-minutes`); the profiles train a fixed number of epochs."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the epoch that leaves too little of `minutes` for another
    one (the longest epoch so far is the estimate), or within an epoch once `minutes`
    are spent (that epoch is then validated as usual); with
    EarlyStopping(restore_best_weights=True) the best epoch's weights are kept.

    Args:
        minutes: float. Wall-clock minutes the whole `fit` may take.
        clock: callable returning seconds. What time is read from (`time.monotonic`);
            tests pass a clock of their own instead of sleeping.
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic,
                 **kwargs):
        super().__init__(**kwargs)
        self.minutes = minutes
        self.clock = clock
        self.stopped_epoch: int | None = None  # 0-based: the epoch it stopped training in
        self._epoch = 0

    def on_train_begin(self, logs=None) -> None:
        self._started = self.clock()
        self._epoch_started = self._started
        self._longest = 0.0
        self.stopped_epoch = None

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch, self._epoch_started = epoch, self.clock()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.clock() - self._started > self.minutes * 60:
            self.stopped_epoch = self._epoch  # cut short; Keras still validates it
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = self.clock()
        self._longest = max(self._longest, now - self._epoch_started)
        last = epoch + 1 >= self.params.get("epochs", float("inf"))
        if not last and now - self._started + self._longest > self.minutes * 60:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def report(self) -> dict:
        """What the budget did, for metrics.json: the minutes asked for, whether it
        stopped training, and after how many epochs (None if it did not)."""
        stopped = self.stopped_epoch is not None
        return {"max_minutes": self.minutes, "stopped_training": stopped,
                "after_epochs": self.stopped_epoch + 1 if stopped else None}
