"""The data forms the library accepts, checked the same way everywhere.

* Arrays: an `(x, y)` pair, where `x` is one array or, for a model with
  several inputs, a tuple, list or dict of arrays (one per input), each with
  one row per label in `y`.
* Batches: a `tf.data.Dataset` (needs TensorFlow) or a
  `keras.utils.PyDataset` (every backend, no TensorFlow) of `(x, y)`
  batches.

Every check raises `ValueError` naming the argument (`train_data`,
`search_data`, `eval_data`, ...). Used by `dais_keras.prune`, the search
feed, the fine-tune recipe, `accuracy` and the BatchNorm recalibration.
Nothing here imports TensorFlow or Keras: no dataset of theirs exists
before they are imported.
"""

import itertools
import sys

import numpy as np

# `tf.data` cardinality that is not a count.
_UNKNOWN = -2


def is_dataset(data):
    """Whether `data` is a `tf.data.Dataset` (without importing TensorFlow:
    no dataset exists before it is imported)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def is_pydataset(data):
    """Whether `data` is a `keras.utils.PyDataset` (without importing Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(data, keras.utils.PyDataset)


def is_batched(data):
    """Whether `data` comes in batches of its own: a `tf.data.Dataset` or a
    `keras.utils.PyDataset` (`batch_size` arguments do not apply to it)."""
    return is_dataset(data) or is_pydataset(data)


def num_batches(data):
    """Batches in one pass over a `tf.data.Dataset` or `PyDataset`, or `None`
    when unknown or endless (e.g. after `repeat()`)."""
    count = data.num_batches if is_pydataset(data) else int(data.cardinality())
    return count if count is not None and count >= 0 else None


def batches(data):
    """Iterates over the batches of one pass of a `tf.data.Dataset` or a
    `PyDataset` (an endless one: forever), as the dataset returns them."""
    if not is_pydataset(data):
        return iter(data)
    count = data.num_batches
    return (data[i] for i in (itertools.count() if count is None else range(count)))


def _as_inputs(x):
    """`x` as arrays, keeping a tuple / list / dict of inputs as such."""
    if isinstance(x, dict):
        return {key: np.asarray(value) for key, value in x.items()}
    if isinstance(x, (tuple, list)) and x and all(hasattr(v, "shape") for v in x):
        return type(x)(np.asarray(v) for v in x)
    return np.asarray(x)


def input_arrays(x):
    """The arrays of `x` (one array, or those of a tuple / list / dict)."""
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (tuple, list)):
        return list(x)
    return [x]


def num_examples(x):
    """Rows of `x` (one array or a structure of arrays)."""
    return len(input_arrays(x)[0])


def take(x, index):
    """Rows `index` of `x`, keeping its structure."""
    if isinstance(x, dict):
        return {key: value[index] for key, value in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(value[index] for value in x)
    return x[index]


def check_arrays(name, data):
    """Checks an `(x, y)` pair of arrays and returns it as numpy arrays.

    Args:
        name: The argument's name, for messages (e.g. `"train_data"`).
        data: `(x, y)`; `x` one array or a tuple / list / dict of arrays.

    Returns:
        `(x, y)` with numpy arrays in `x`'s structure.

    Raises:
        ValueError: If `data` is not a pair, an input is not an array with a
            row per example, the row counts differ, or there are no rows.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            f"`{name}` must be a `tf.data.Dataset` or a `keras.utils.PyDataset` "
            "of (x, y) batches or an (x, y) tuple of arrays (x: one array, or a tuple, list or dict of "
            f"arrays for a model with several inputs); received {type(data).__name__}."
        )
    x, y = _as_inputs(data[0]), np.asarray(data[1])
    arrays = input_arrays(x)
    if not arrays or any(np.ndim(a) == 0 for a in arrays):
        raise ValueError(
            f"`{name}`: x must be an array with one row per example, or a tuple, "
            "list or dict of such arrays (one per model input)."
        )
    rows = sorted({len(a) for a in arrays})
    if len(rows) > 1:
        raise ValueError(
            f"`{name}` has input arrays of {rows} rows; every input needs one row "
            f"per example ({len(y)} labels)."
        )
    if rows[0] != len(y):
        raise ValueError(f"`{name}` has {rows[0]} inputs but {len(y)} labels.")
    if rows[0] == 0:
        raise ValueError(f"`{name}` holds no examples.")
    return x, y


def check_not_empty(name, dataset):
    """Raises `ValueError` if `dataset` (a `tf.data.Dataset` or a
    `PyDataset`) yields no batch.

    A `tf.data.Dataset` of unknown length (e.g. after `filter`) is asked for
    its first batch; Keras would otherwise fail later with an unrelated
    message.
    """
    if is_pydataset(dataset):
        count = dataset.num_batches
    else:
        count = int(dataset.cardinality())
        if count == _UNKNOWN:
            count = sum(1 for _ in dataset.take(1))
    if count == 0:
        raise ValueError(
            f"`{name}` is an empty dataset: it yields no batch. Check its "
            "source and any `filter`, `take` or `skip` applied to it."
        )


def check_data(name, data):
    """`check_arrays` for arrays, `check_not_empty` for a `tf.data.Dataset`
    or a `PyDataset`; returns the data (arrays as numpy arrays)."""
    if is_batched(data):
        check_not_empty(name, data)
        return data
    return check_arrays(name, data)
