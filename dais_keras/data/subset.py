"""`BatchSubset`: some batches of a `keras.utils.PyDataset` (the search split
of a dataset that is not an `ImagePyDataset`; `dais_keras.finetune.inputs`).
Its own module because defining it imports Keras, which the CLI's `--help`
must not."""

import numpy as np

import keras


class BatchSubset(keras.utils.PyDataset):
    """Some batches of a `keras.utils.PyDataset`: batch `i` is `data[index[i]]`.

    Args:
        data: The `PyDataset` (a finite one).
        index: The batches of `data` to serve, in order.
        drives_passes: Whether `on_epoch_begin` / `on_epoch_end` are passed on
            to `data` (one of the subsets of a split drives them: the part
            `fit` trains on).
    """

    def __init__(self, data, index, drives_passes=False):
        super().__init__(workers=data.workers, use_multiprocessing=data.use_multiprocessing,
                         max_queue_size=data.max_queue_size)
        self.data = data
        self.index = np.asarray(index)
        self.drives_passes = bool(drives_passes)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        return self.data[int(self.index[i])]

    def on_epoch_begin(self):
        if self.drives_passes:
            self.data.on_epoch_begin()

    def on_epoch_end(self):
        if self.drives_passes:
            self.data.on_epoch_end()
