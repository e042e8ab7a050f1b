"""Training data for `prune` and the fine-tune recipe: `fit`'s arguments,
steps per epoch and the search split. The forms themselves (arrays, several
inputs, datasets) are checked by `dais_keras.utils.data_forms`.
"""

import numpy as np

from dais_keras.utils.data_forms import check_arrays
from dais_keras.utils.data_forms import is_dataset
from dais_keras.utils.data_forms import num_examples
from dais_keras.utils.data_forms import take

DEFAULT_SEARCH_FRACTION = 0.2


def fit_arguments(data, batch_size):
    """`(args, kwargs)` for `Model.fit` on `data`."""
    if is_dataset(data):
        return (data,), {"shuffle": False}  # a dataset shuffles itself
    x, y = data
    return (x, y), {"batch_size": batch_size}


def steps_per_epoch(data, batch_size):
    """Batches in one pass over `data`, or `None` when unknown."""
    if not is_dataset(data):
        return -(-num_examples(data[0]) // batch_size)
    count = int(data.cardinality())
    return count if count > 0 else None


def split_search(train_data, search_fraction=DEFAULT_SEARCH_FRACTION, seed=0):
    """Splits `train_data` into `(weight_data, search_data)` deterministically.

    Arrays: a seeded permutation, the last `search_fraction` of it for the
    search (every input of a multi-input `x` split alike). A batched
    dataset: every `round(1 / search_fraction)`-th batch for the search
    (disjoint only if the dataset does not reshuffle between iterations;
    pass `search_data` yourself otherwise).

    Args:
        train_data: `(x, y)` arrays or a `tf.data.Dataset` of batches.
        search_fraction: Share held out for the search, in (0, 1).
        seed: Seed of the permutation (arrays).

    Returns:
        `(weight_data, search_data)`, in the form of `train_data`.

    Raises:
        ValueError: For a fraction outside (0, 1), or data too small to split.
    """
    if not 0.0 < search_fraction < 1.0:
        raise ValueError(
            f"`search_fraction` must be in (0, 1); received {search_fraction!r}."
        )
    if is_dataset(train_data):
        return _split_dataset(train_data, search_fraction)
    x, y = check_arrays("train_data", train_data)
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    n_search = max(1, int(round(search_fraction * n)))
    if n_search >= n:
        raise ValueError(
            f"`train_data` has {n} examples: too few to hold out a search split."
        )
    w, s = order[:-n_search], order[-n_search:]
    return (take(x, w), y[w]), (take(x, s), y[s])


def _split_dataset(train_data, search_fraction):
    import tensorflow as tf

    every = max(2, int(round(1.0 / search_fraction)))
    indexed = train_data.enumerate()
    search = indexed.filter(lambda i, b: i % every == 0).map(lambda i, b: b)
    weight = indexed.filter(lambda i, b: i % every != 0).map(lambda i, b: b)
    n = int(train_data.cardinality())
    if n > 0:  # keep the length known, for `fit` and the annealing
        n_search = -(-n // every)
        if n_search >= n:
            raise ValueError(
                f"`train_data` has {n} batches: too few to hold out search batches."
            )
        search = search.apply(tf.data.experimental.assert_cardinality(n_search))
        weight = weight.apply(tf.data.experimental.assert_cardinality(n - n_search))
    return weight, search
