"""The search batches of a bi-level DAIS search.

`SearchFeed` turns the callback's `search_data` into an endless,
deterministic stream of batches, ready for the backend (distributed like
the training batches by the backend's step).
"""

import numpy as np

import keras

from dais_keras.search import step as step_lib
from dais_keras.utils import data_forms


class SearchFeed:
    """Endless, deterministic stream of search batches for the train step.

    Args:
        data: A `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)`
            batches, or a tuple `(x, y)` / `(x, y, sample_weight)` of arrays.
        batch_size: Batch size for array data (default 32, like `fit`).
        shuffle: Shuffle array data each pass (a seeded permutation per pass,
            independent of the global random seed).
        seed: Seed of that shuffle.
    """

    def __init__(self, data, batch_size=None, shuffle=True, seed=0):
        import tensorflow as tf

        self.seed = seed
        if isinstance(data, tf.data.Dataset):
            if batch_size is not None:
                raise ValueError(
                    "`batch_size` applies to array `search_data` only; a "
                    "`tf.data.Dataset` is used with its own batches. Batch "
                    "the dataset instead."
                )
            if data.cardinality() == 0:
                raise ValueError("`search_data` is an empty dataset.")
            self.dataset = data.repeat()
            self.x_shape = _x_shape(data.element_spec)
        elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
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
            tensors = (keras.tree.map_structure(tf.constant, x),) + tuple(
                tf.constant(a) for a in rest if a is not None)
            size = min(batch_size, n)
            self._gather = lambda idx: tuple(
                keras.tree.map_structure(lambda v: tf.gather(v, idx), part) for part in tensors)
            self._indices = _index_stream(n, size, seed if shuffle else None)
            self.dataset = None
            self.x_shape = tuple(inputs[0].shape) if len(inputs) == 1 else None
        else:
            raise ValueError(
                "`search_data` must be a `tf.data.Dataset` of (x, y) batches "
                "or an (x, y) tuple of arrays, like `fit`'s `validation_data`; "
                f"received {type(data).__name__}."
            )
        self._iterator = None

    def check(self, model):
        """Raises `ValueError` when the inputs do not fit `model`."""
        if self.x_shape is None or len(model.inputs) != 1:
            return
        expected = tuple(model.inputs[0].shape[1:])
        got = tuple(self.x_shape[1:])
        ok = len(expected) == len(got) and all(
            e is None or g is None or e == g for e, g in zip(expected, got)
        )
        if not ok:
            raise ValueError(
                f"`search_data` has inputs of shape {got} per example, but "
                f"model '{model.name}' expects {expected}. Pass search data "
                "shaped like the training data."
            )

    def start(self, model, skip=0):
        """(Re)starts the stream for `model`, skipping `skip` batches."""
        if self.dataset is None:  # arrays: skip indices, then gather
            indices = self._indices.skip(skip) if skip else self._indices
            dataset = indices.map(self._gather).prefetch(2)
        else:
            dataset = self.dataset.skip(skip) if skip else self.dataset
        self._iterator = step_lib.get().iterate(model, dataset)

    def next(self):
        return next(self._iterator)


def _index_stream(n, batch_size, seed):
    """Endless batches of example indices: pass `k` over the data is the
    permutation `index_shuffle(seed, k)` (or the identity without a seed).
    A pure function of `(n, batch_size, seed)`, so that skipping `k` batches
    resumes the stream exactly, whatever the global random seed."""
    import tensorflow as tf

    n64 = tf.constant(n, tf.int64)
    if seed is None:
        fn = lambda i: i % n64
    else:
        seed64 = tf.constant(int(seed), tf.int64)
        fn = lambda i: tf.random.experimental.index_shuffle(
            i % n64, seed=tf.stack([seed64, i // n64]), max_index=n64 - 1
        )
    return tf.data.Dataset.range(2**62).map(fn).batch(batch_size, drop_remainder=True)


def _x_shape(spec):
    spec = spec[0] if isinstance(spec, (tuple, list)) else spec
    shape = getattr(spec, "shape", None)
    return None if shape is None else tuple(shape)

