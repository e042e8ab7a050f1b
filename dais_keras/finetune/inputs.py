"""Training data for `prune` and the fine-tune recipe: `fit`'s arguments,
steps per epoch and the search split. The forms themselves (arrays, several
inputs, a `tf.data.Dataset` or a `keras.utils.PyDataset`) are checked by
`dais_keras.utils.data_forms`.
"""

import numpy as np

from dais_keras.utils.data_forms import check_arrays
from dais_keras.utils.data_forms import is_batched
from dais_keras.utils.data_forms import is_dataset
from dais_keras.utils.data_forms import num_batches
from dais_keras.utils.data_forms import num_examples
from dais_keras.utils.data_forms import take

DEFAULT_SEARCH_FRACTION = 0.2


def fit_arguments(data, batch_size):
    """`(args, kwargs)` for `Model.fit` on `data`."""
    if is_batched(data):
        # A dataset shuffles itself (`fit` would reorder a PyDataset's
        # batches with Python's global `random`).
        return (data,), {"shuffle": False}
    x, y = data
    return (x, y), {"batch_size": batch_size}


def steps_per_epoch(data, batch_size):
    """Batches in one pass over `data`, or `None` when unknown or endless."""
    if is_batched(data):
        return num_batches(data)
    return -(-num_examples(data[0]) // batch_size)


def split_search(train_data, search_fraction=DEFAULT_SEARCH_FRACTION, seed=0):
    """Splits `train_data` into `(weight_data, search_data)` deterministically.

    Arrays and an `ImagePyDataset` (`dais_keras.data.cifar10(...,
    format="pydataset")`): a seeded permutation of the examples, the last
    `search_fraction` of it for the search (every input of a multi-input `x`
    split alike; two `ImagePyDataset`s with the settings of `train_data`).
    Any other `tf.data.Dataset` or `keras.utils.PyDataset` of batches: every
    `round(1 / search_fraction)`-th batch for the search (disjoint only if
    the dataset does not reshuffle between passes; pass `search_data`
    yourself otherwise).

    Args:
        train_data: `(x, y)` arrays, a `tf.data.Dataset` or a
            `keras.utils.PyDataset` of batches.
        search_fraction: Share held out for the search, in (0, 1).
        seed: Seed of the permutation (arrays, `ImagePyDataset`).

    Returns:
        `(weight_data, search_data)`, in the form of `train_data`.

    Raises:
        ValueError: For a fraction outside (0, 1), data too small to split,
            or an endless `PyDataset` that is not an `ImagePyDataset`.
    """
    from dais_keras.data.pydataset import ImagePyDataset

    if not 0.0 < search_fraction < 1.0:
        raise ValueError(
            f"`search_fraction` must be in (0, 1); received {search_fraction!r}."
        )
    if is_dataset(train_data):
        return _split_dataset(train_data, search_fraction)
    if isinstance(train_data, ImagePyDataset):
        weight, search = _split_rows(len(train_data.y), search_fraction, seed)
        return train_data.subset(weight), train_data.subset(search)
    if is_batched(train_data):
        return _split_pydataset(train_data, search_fraction)
    x, y = check_arrays("train_data", train_data)
    weight, search = _split_rows(len(y), search_fraction, seed)
    return (take(x, weight), y[weight]), (take(x, search), y[search])


def _split_rows(n, search_fraction, seed):
    """`(weight rows, search rows)`: a seeded permutation of `n` examples,
    its last `search_fraction` for the search."""
    order = np.random.default_rng(seed).permutation(n)
    n_search = max(1, int(round(search_fraction * n)))
    if n_search >= n:
        raise ValueError(
            f"`train_data` has {n} examples: too few to hold out a search split."
        )
    return order[:-n_search], order[-n_search:]


def _every(search_fraction, n):
    """Every how many batches one goes to the search; checks that both parts
    of `n` batches (`None`: unknown) keep some."""
    every = max(2, int(round(1.0 / search_fraction)))
    if n is not None and -(-n // every) >= n:
        raise ValueError(
            f"`train_data` has {n} batches: too few to hold out search batches."
        )
    return every


def _split_dataset(train_data, search_fraction):
    import tensorflow as tf

    n = num_batches(train_data)
    every = _every(search_fraction, n)
    indexed = train_data.enumerate()
    search = indexed.filter(lambda i, b: i % every == 0).map(lambda i, b: b)
    weight = indexed.filter(lambda i, b: i % every != 0).map(lambda i, b: b)
    if n is not None:  # keep the length known, for `fit` and the annealing
        n_search = -(-n // every)
        search = search.apply(tf.data.experimental.assert_cardinality(n_search))
        weight = weight.apply(tf.data.experimental.assert_cardinality(n - n_search))
    return weight, search


def _split_pydataset(train_data, search_fraction):
    n = train_data.num_batches
    if n is None:
        raise ValueError(
            f"`train_data` ({type(train_data).__name__}) is an endless PyDataset: "
            "its batches cannot be split. Pass `search_data` yourself."
        )
    every = _every(search_fraction, n)
    index = np.arange(n)
    from dais_keras.data.subset import BatchSubset  # imports Keras

    weight = BatchSubset(train_data, index[index % every != 0], drives_passes=True)
    return weight, BatchSubset(train_data, index[index % every == 0])
