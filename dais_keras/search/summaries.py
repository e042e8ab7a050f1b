"""The search's figures in TensorBoard.

`DAISCallback` adds its per-epoch figures (`dais_T`, `dais_macs`, ...) to
`fit`'s `logs`, so a `keras.callbacks.TensorBoard` listed after it in the
same `fit` writes them as `epoch_dais_*` scalars with the loss and metrics.
`TensorBoardSummaries` writes the rest into each such callback's `train`
run: a histogram of every group's `alpha` per epoch (`dais_alpha/<group>`),
and, for a `TensorBoard` listed before the `DAISCallback` (its `on_epoch_end`
runs before the figures are in `logs`), the scalars it has not written: the
search step's own logs (`dais_T`, `dais_<cost>`, `dais_search_loss`, the
values of the epoch's last step) reach it either way, also per batch with
`update_freq="batch"`.

Keras gives a callback no handle on the other callbacks of its `fit`: the
`keras.callbacks.CallbackList` that calls `on_train_begin` holds them, and
`find_tensorboards` reads them from there. Nothing here imports TensorFlow:
the writing goes through the `TensorBoard` callback's own summary module
(`tf.summary`, which a `TensorBoard` callback needs on every backend), so a
`fit` without one runs where TensorFlow is not installed.
"""

import sys

import numpy as np

import keras

# Frames above `find_tensorboards` searched for the calling `CallbackList`.
_MAX_DEPTH = 12


def find_tensorboards(callback):
    """The `keras.callbacks.TensorBoard` callbacks of the `fit` running
    `callback`. Call it while `callback.on_train_begin` runs: it looks for
    the `CallbackList` among the calling frames.

    Returns:
        `(tensorboard, runs_first)` pairs, `runs_first` true for one listed
        before `callback` (its `on_epoch_end` runs first). Empty when the
        `fit` has none, or when `callback` was not called by a
        `keras.callbacks.CallbackList`.
    """
    frame = sys._getframe(1)
    for _ in range(_MAX_DEPTH):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            callbacks = list(owner.callbacks)
            position = next((i for i, c in enumerate(callbacks) if c is callback), None)
            if position is not None:
                return [
                    (c, i < position) for i, c in enumerate(callbacks)
                    if isinstance(c, keras.callbacks.TensorBoard)
                ]
        frame = frame.f_back
    return []


class TensorBoardSummaries:
    """Writes a search's per-epoch figures into `TensorBoard` callbacks.

    Args:
        tensorboards: `(tensorboard, runs_first)` pairs (`find_tensorboards`).
        group_names: A name per indicator group, in `alpha_values()` order.
    """

    def __init__(self, tensorboards, group_names):
        self.tensorboards = list(tensorboards)
        self.group_names = list(group_names)

    def epoch(self, epoch, scalars, alphas, logged=()):
        """Writes epoch `epoch`'s figures.

        Args:
            epoch: The epoch (TensorBoard's step of the epoch scalars).
            scalars: The `{name: value}` the search adds to `logs`.
            alphas: The groups' `alpha` vectors.
            logged: The names `logs` held before: a `TensorBoard` that runs
                first has written those.
        """
        for board, runs_first in self.tensorboards:
            summary = board.summary
            writer = board._train_writer  # the run of its `epoch_*` scalars
            # Recorded whatever batch condition `update_freq=N` left set.
            with writer.as_default(), summary.record_if(True):
                for name, value in scalars.items():
                    if runs_first and name not in logged:
                        summary.scalar(f"epoch_{name}", float(value), step=epoch)
                for name, alpha in zip(self.group_names, alphas):
                    summary.histogram(
                        f"dais_alpha/{name}", np.asarray(alpha, "float32"), step=epoch
                    )
            writer.flush()
