"""The search batches of a bi-level DAIS search.

`SearchFeed` turns the callback's `search_data` into an endless,
deterministic stream of batches, ready for the backend (distributed like
the training batches by the backend's step). It accepts the forms `fit`
accepts, on every backend:

* a `tf.data.Dataset` (TensorFlow installed), repeated;
* a `keras.utils.PyDataset` (e.g. `dais_keras.data.cifar10(...,
  format="pydataset")`), pass after pass: no TensorFlow needed;
* arrays `(x, y)` / `(x, y, sample_weight)`, batched and reshuffled in
  numpy at every pass: no TensorFlow needed.

Restarts are exact: `start(model, skip=k)` resumes the stream after its
first `k` batches (what `BackupAndRestore` needs), for arrays, datasets and
`ImagePyDataset`s (any PyDataset whose passes are a function of its
`epoch` attribute).
"""

import numpy as np

import keras

from dais_keras.search import step as step_lib
from dais_keras.utils import data_forms
from dais_keras.utils import fit_checks


class SearchFeed:
    """Endless, deterministic stream of search batches for the train step.

    Args:
        data: A `tf.data.Dataset` or a `keras.utils.PyDataset` of `(x, y)`
            or `(x, y, sample_weight)` batches, or a tuple `(x, y)` /
            `(x, y, sample_weight)` of arrays.
        batch_size: Batch size for array data (default 32, like `fit`).
        shuffle: Shuffle array data each pass (a seeded permutation per pass,
            independent of the global random seed).
        seed: Seed of that shuffle.

    Raises:
        ValueError: For another form of data, an empty one, arrays of
            different lengths, or a `batch_size` with batched data.
    """

    def __init__(self, data, batch_size=None, shuffle=True, seed=0):
        self.seed = seed
        self._data = data
        if data_forms.is_dataset(data) or isinstance(data, keras.utils.PyDataset):
            if batch_size is not None:
                raise ValueError(
                    "`batch_size` applies to array `search_data` only; a "
                    f"{type(data).__name__} is used with its own batches. "
                    "Batch the data instead."
                )
            self._source = (
                _DatasetSource(data) if data_forms.is_dataset(data) else _PyDatasetSource(data)
            )
        elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
            self._source = _ArraySource(data, batch_size, seed if shuffle else None)
        else:
            raise ValueError(
                "`search_data` must be a `tf.data.Dataset` or a "
                "`keras.utils.PyDataset` of (x, y) batches, or an (x, y) tuple "
                "of arrays, like `fit`'s `validation_data`; received "
                f"{type(data).__name__}."
            )
        self.x_shape = self._source.x_shape
        self._iterator = None

    def check(self, model, loss=None):
        """Raises `ValueError` when the search data does not fit `model`
        (input shapes, finite inputs) or `loss` (labels: see
        `dais_keras.utils.fit_checks`). Arrays are checked whole, datasets
        on their first batch."""
        fit_checks.check_fit_data("search_data", self._data, model, loss)

    def start(self, model, skip=0):
        """(Re)starts the stream for `model`, skipping `skip` batches."""
        self._iterator = self._source.iterate(model, skip)

    def next(self):
        return next(self._iterator)


class _DatasetSource:
    """A `tf.data.Dataset`, repeated; the backend's step iterates it."""

    def __init__(self, data):
        if data.cardinality() == 0:
            raise ValueError("`search_data` is an empty dataset.")
        self.dataset = data.repeat()
        spec = data.element_spec
        spec = spec[0] if isinstance(spec, (tuple, list)) else spec
        shape = getattr(spec, "shape", None)
        self.x_shape = None if shape is None else tuple(shape)

    def iterate(self, model, skip):
        dataset = self.dataset.skip(skip) if skip else self.dataset
        return step_lib.get().iterate(model, dataset)


class _PyDatasetSource:
    """A `keras.utils.PyDataset`, pass after pass (see
    `dais_keras.data.pydataset.endless_batches`); restarted from the pass it
    was at when the feed was made."""

    def __init__(self, data):
        if data.num_batches == 0:
            raise ValueError(f"`search_data` ({type(data).__name__}) has no batch.")
        self.data = data
        self.first_pass = getattr(data, "epoch", None)
        x = data[0][0] if isinstance(data[0], (tuple, list)) else data[0]
        inputs = data_forms.input_arrays(x)
        self.x_shape = tuple(np.shape(inputs[0])) if len(inputs) == 1 else None

    def iterate(self, model, skip):
        from dais_keras.data.pydataset import endless_batches

        if self.first_pass is not None:
            self.data.epoch = self.first_pass
        return step_lib.get().iterate_batches(model, endless_batches(self.data, skip))


class _ArraySource:
    """Arrays, in batches of example indices: pass `p` over the data is the
    permutation drawn from `[seed, p]` (or the identity without a seed), and
    batches run on across passes. A pure function of `(n, batch_size,
    seed)`, so that skipping `k` batches resumes the stream exactly,
    whatever the global random seed."""

    def __init__(self, data, batch_size, seed):
        # `x` is one array, or a tuple / list / dict of them (one per input).
        x = keras.tree.map_structure(np.asarray, data[0])
        rest = [None if a is None else np.asarray(a) for a in data[1:]]
        inputs = data_forms.input_arrays(x)
        n = len(inputs[0])
        for name, a in [("inputs", b) for b in inputs[1:]] + list(
                zip(("y", "sample_weight"), rest)):
            if a is not None and len(a) != n:
                raise ValueError(
                    f"`search_data` has {n} inputs but {len(a)} values "
                    f"of {name}; they must have the same length."
                )
        if n == 0:
            raise ValueError("`search_data` holds no examples.")
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1; received {batch_size}.")
        self.parts = (x,) + tuple(a for a in rest if a is not None)
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.x_shape = tuple(inputs[0].shape) if len(inputs) == 1 else None

    def batch_indices(self, skip):
        """Yields the example indices of batches `skip`, `skip + 1`, ..."""
        n, size = self.n, self.batch_size
        order, current = None, None
        position = skip * size
        while True:
            index = np.arange(position, position + size)
            passes = index // n
            out = np.empty(size, np.int64)
            for p in np.unique(passes):
                if p != current:
                    current = p
                    order = (
                        np.arange(n) if self.seed is None
                        else np.random.default_rng([int(self.seed), int(p)]).permutation(n)
                    )
                where = passes == p
                out[where] = order[index[where] % n]
            yield out
            position += size

    def iterate(self, model, skip):
        batches = (
            tuple(data_forms.take(part, index) for part in self.parts)
            for index in self.batch_indices(skip)
        )
        return step_lib.get().iterate_batches(model, batches)
