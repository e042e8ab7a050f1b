"""Image arrays as a `keras.utils.PyDataset` (`cifar10(format="pydataset")`).

The input path for every Keras backend without TensorFlow: batches are numpy
arrays, shuffled and augmented in numpy (`random_crop_flip`), and Keras hands
them to the backend (`jax.Array`, `torch.Tensor` or `tf.Tensor`).

Reproducible: batch `i` of pass `e` over the data is a pure function of
`(seed, e, i)` (the pass's permutation is drawn from `[seed, 2, e]`, the
batch's augmentation from `[seed, 3, e, i]`), whatever the order in which
Keras' workers fetch the batches, the backend or the global random seed.
Two datasets built with the same arguments give the same batches, so every
method trained on them sees the same images.

`endless_batches` turns any `PyDataset` (or re-iterable of batches) into the
endless stream that a search feed draws from.
"""

import itertools
import math

import keras
import numpy as np

from dais_keras.data.augment import random_crop_flip
from dais_keras.utils import checks

# Tags of the independent random streams drawn from `seed`
# (`cifar10_numpy(shuffle=True)` uses `[seed, 1]`).
ORDER_STREAM = 2
AUGMENT_STREAM = 3


class ImagePyDataset(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` of in-memory images, shuffled and augmented.

    Serves `(images, labels)` batches: images `float32` of shape
    `(batch, height, width, channels)` with the raw values of `x` (no
    scaling), labels as in `y` (`int32` for CIFAR-10). With `shuffle`, every
    pass uses a fresh seeded permutation; with `augment`, every batch is
    padded, cropped and flipped by `random_crop_flip` (the distribution of
    `cifar10_augmentation`), drawn afresh in every pass.

    Passes: `epoch` counts them. `on_epoch_end` moves to the next pass (it is
    what `fit` calls after every epoch). Once `on_epoch_begin` has been called
    (by `fit`), only an `on_epoch_end` that follows an `on_epoch_begin` counts:
    `fit` calls `on_epoch_end` once more before its first epoch (after looking
    at a batch or two). So the epochs of a first `fit` use passes 1, 2, ...,
    whether or not the model was built, and a second `fit` goes on with the
    next pass: `fit(epochs=2)` twice sees the batches of `fit(epochs=4)`.
    Setting `epoch = k` starts afresh: a following `fit` uses passes
    `k + 1`, `k + 2`, ...

    `fit`'s own `shuffle=True` (its default) only reorders whole batches with
    Python's global `random`; the examples are already shuffled here, so pass
    `shuffle=False` to `fit` for batch orders independent of the global seed.

    Args:
        x: Images, NHWC, any real dtype (e.g. `uint8` raw pixels).
        y: Labels, one per image.
        batch_size: Positive integer.
        augment: Whether to apply `random_crop_flip` (pad 4, random crop,
            random horizontal flip).
        shuffle: Whether to reshuffle the examples at every pass.
        seed: Integer seed of the shuffles and of the augmentation.
        drop_remainder: Whether to drop the last, smaller batch.
        repeat: Whether the dataset is endless (like `tf.data`'s `repeat()`):
            batch `i` is batch `i % len(self)` of pass `epoch + 1 + i //
            len(self)`, a pure function of `i`, and `num_batches` is `None`
            (so `fit` needs `steps_per_epoch`). `len()` stays the number of
            batches of one pass; `fit` does not change `epoch`.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`: how
            `fit` fetches batches in parallel (see `keras.utils.PyDataset`).

    Raises:
        ValueError: If `x` is not 4-D, `x` and `y` differ in length, or the
            dataset would have no batch.

    Example:

    ```python
    train = ImagePyDataset(x, y, batch_size=128, augment=True, shuffle=True,
                           seed=0, workers=2)
    model.fit(train, epochs=10, shuffle=False)
    ```
    """

    def __init__(
        self,
        x,
        y,
        batch_size=128,
        *,
        augment=False,
        shuffle=False,
        seed=0,
        drop_remainder=False,
        repeat=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 4 or len(x) != len(y):
            raise ValueError(
                "`x` must be images of shape (n, height, width, channels) and "
                f"`y` n labels; received x of shape {x.shape} and y of shape "
                f"{y.shape}."
            )
        self.x, self.y = x, y
        self.batch_size = checks.check_int("batch_size", batch_size, low=1)
        self.augment = bool(augment)
        self.shuffle = bool(shuffle)
        self.seed = checks.check_seed(seed)
        self.drop_remainder = bool(drop_remainder)
        self.repeat = bool(repeat)
        if len(self) == 0:
            raise ValueError(
                f"`batch_size={self.batch_size}` with `drop_remainder=True` "
                f"leaves no batch of the {len(y)} examples; use a smaller "
                "batch_size or drop_remainder=False."
            )
        self.epoch = 0
        self._order = (None, None)  # (pass, permutation) of the last pass used

    @property
    def epoch(self):
        """The pass over the data that the batches come from (0, 1, ...)."""
        return self._epoch

    @epoch.setter
    def epoch(self, value):
        self._epoch = checks.check_int("epoch", value, low=0)
        self._begun = None  # None: no on_epoch_begin yet, every end counts

    def __len__(self):
        """Batches in one pass."""
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.y) / self.batch_size)

    @property
    def num_batches(self):
        """Batches in one pass, or `None` for an endless (`repeat`) dataset."""
        return None if self.repeat else len(self)

    def __getitem__(self, index):
        """Returns batch `index` of the current pass (of the endless stream
        with `repeat`): `(images, labels)`."""
        valid = isinstance(index, (int, np.integer)) and not isinstance(index, bool)
        if not valid or index < 0 or (not self.repeat and index >= len(self)):
            size = "endless batches (0, 1, ...)" if self.repeat else (
                f"{len(self)} batches (0 to {len(self) - 1})")
            raise IndexError(
                f"Batch index {index!r} is out of range: this dataset has {size}."
            )
        if self.repeat:
            passes, index = divmod(int(index), len(self))
            return self._batch(index, self._epoch + 1 + passes)
        return self._batch(index, self._epoch)

    def subset(self, rows):
        """A new dataset of this class over the examples `rows` (indices into
        `x`), with this dataset's settings (batches, augmentation, shuffle,
        seed, `repeat`, workers) and a fresh `epoch` of 0."""
        rows = np.asarray(rows)
        return type(self)(
            self.x[rows], self.y[rows], self.batch_size, augment=self.augment,
            shuffle=self.shuffle, seed=self.seed, drop_remainder=self.drop_remainder,
            repeat=self.repeat, workers=self.workers,
            use_multiprocessing=self.use_multiprocessing, max_queue_size=self.max_queue_size,
        )

    def _batch(self, index, epoch):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.shuffle:
            rows = self._permutation(epoch)[rows]
        images, labels = self.x[rows], self.y[rows]
        if self.augment:
            rng = np.random.default_rng([self.seed, AUGMENT_STREAM, epoch, int(index)])
            return random_crop_flip(images, rng), labels
        return images.astype(np.float32), labels

    def on_epoch_begin(self):
        """Marks the start of a pass (`fit` calls it before every epoch)."""
        self._begun = True

    def on_epoch_end(self):
        """Moves to the next pass (reshuffles and redraws the augmentation);
        nothing with `repeat`, whose passes follow from the batch index."""
        if self.repeat:
            return
        if self._begun is not False:
            self._epoch += 1
        if self._begun:
            self._begun = False

    def _permutation(self, epoch):
        cached_epoch, permutation = self._order  # one read: safe across threads
        if cached_epoch != epoch:
            rng = np.random.default_rng([self.seed, ORDER_STREAM, epoch])
            permutation = rng.permutation(len(self.y))
            self._order = (epoch, permutation)
        return permutation


def endless_batches(data, skip=0):
    """Yields the batches of `data` forever, pass after pass.

    For a `keras.utils.PyDataset`, every pass is bracketed by its
    `on_epoch_begin` / `on_epoch_end` (as `fit` does), so an `ImagePyDataset`
    reshuffles and redraws its augmentation at every pass, and the stream is
    a pure function of the dataset's arguments and of the pass it starts
    from: a new stream from the same pass that skips `k` batches resumes the
    first one exactly (for an `ImagePyDataset`, set `epoch` back to the
    first pass before restarting: the passes the stream goes through are
    counted on the dataset). Any other `data` must be re-iterable (a list of
    batches, or an object whose `iter()` starts a new pass).

    Args:
        data: A `keras.utils.PyDataset`, or a re-iterable of batches.
        skip: Number of batches to skip first (e.g. those already used
            before a restart), from the dataset's current pass.

    Yields:
        The batches of `data`, as `data` returns them.

    Raises:
        ValueError: If `data` has no batch (or a pass yields none), or
            `skip` is negative.

    Example:

    ```python
    search = dais_keras.data.cifar10("search", format="pydataset")
    stream = endless_batches(search)
    x, y = next(stream)
    ```
    """
    skip = checks.check_int("skip", skip, low=0)
    if not isinstance(data, keras.utils.PyDataset):
        return _iterable_batches(data, skip)
    if data.num_batches is None:  # an endless PyDataset
        return (data[index] for index in itertools.count(skip))
    if data.num_batches == 0:
        raise ValueError(f"`data` ({type(data).__name__}) has no batch.")
    return _pydataset_batches(data, skip)


def _pydataset_batches(data, skip):
    n = data.num_batches
    passes, first = divmod(skip, n)
    for _ in range(passes):  # pass by pass, so that each reshuffles
        data.on_epoch_begin()
        data.on_epoch_end()
    while True:
        data.on_epoch_begin()
        for index in range(first, n):
            yield data[index]
        first = 0
        data.on_epoch_end()


def _iterable_batches(data, skip):
    while True:
        empty = True
        for batch in data:
            empty = False
            if skip:
                skip -= 1
                continue
            yield batch
        if empty:
            raise ValueError(
                f"`data` ({type(data).__name__}) yielded no batch in a pass; "
                "pass a keras.utils.PyDataset, a list of batches, or an "
                "iterable whose iter() starts a new pass (not a one-shot "
                "generator)."
            )
