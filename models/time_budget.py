"""A Keras callback that ends training before a wall-clock budget runs out."""

from __future__ import annotations

import logging
import time

import keras

logger = logging.getLogger(__name__)


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the epoch that leaves too little of `minutes` for another
    one (the longest epoch so far is the estimate), or within an epoch once `minutes`
    are spent (that epoch is then validated as usual), so a profile keeps its promised
    training time on any machine; with EarlyStopping(restore_best_weights=True) the
    best epoch's weights are kept.

    Args:
        minutes: float. Wall-clock minutes the whole `fit` may take.
    """

    def __init__(self, minutes: float, **kwargs):
        super().__init__(**kwargs)
        self.minutes = minutes
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None) -> None:
        self._started = time.monotonic()
        self._epoch_started = self._started
        self._longest = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_started = time.monotonic()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if time.monotonic() - self._started > self.minutes * 60:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.monotonic()
        self._longest = max(self._longest, now - self._epoch_started)
        if now - self._started + self._longest > self.minutes * 60:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            logger.info("time budget of %.0f min: stopping after epoch %d", self.minutes,
                        epoch + 1)
