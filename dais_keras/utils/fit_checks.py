"""Training data checked against the model and the loss before any step runs.

Keras turns bad labels into errors deep inside a compiled step (TensorFlow),
or into no error at all: on JAX a sparse cross-entropy with a label outside
`[0, classes)` gathers garbage and trains on, and float labels are truncated
to integers on every backend. The checks here run once, before the first
step, on the data the user passed, and raise a `ValueError` that names the
argument, the row and the fix:

* inputs: one row per example shaped like the model's input, finite values;
  a `tf.data.Dataset` of single examples (not batched) is named as such;
* labels, for a sparse categorical loss: integer class indices in
  `[0, classes)` (a float label must hold a whole number; one-hot rows are
  refused with the two ways out); for a categorical loss: one row of
  `classes` values per example.

Arrays are checked whole (one pass over the labels, one `isfinite` over
float inputs). A `tf.data.Dataset` or a `keras.utils.PyDataset` is checked on
its first batch: a later bad batch is not seen before it is trained on.
"""

import numpy as np

from dais_keras.utils import data_forms

SPARSE = "sparse"
CATEGORICAL = "categorical"


def _arg(name):
    """`name` quoted for a message: `train_data`, or `train_data` (its
    first batch) for a qualified name."""
    head, sep, rest = name.partition(" (")
    return f"`{head}`" + (f" ({rest}" if sep else "")


def loss_kind(loss):
    """`"sparse"`, `"categorical"` or `None` (a loss whose labels are not
    class indices or one-hot rows, or one we cannot tell).

    Args:
        loss: A `keras.losses.Loss`, a loss function, or its name.
    """
    if loss is None:
        return None
    name = loss if isinstance(loss, str) else (
        getattr(loss, "name", None) or getattr(loss, "__name__", None) or "")
    fn = getattr(loss, "fn", None)  # `LossFunctionWrapper`
    if fn is not None:
        name = f"{name} {getattr(fn, '__name__', '')}"
    name = str(name).lower()
    if "sparse_categorical" in name or name == "scce":
        return SPARSE
    if "categorical_crossentropy" in name or "categorical_focal" in name or name == "cce":
        return CATEGORICAL
    return None


def num_classes(model):
    """The width of `model`'s single output (its classes), or `None` for a
    model with several outputs or an output of unknown width."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1:
        return None
    shape = tuple(outputs[0].shape)
    return shape[-1] if len(shape) >= 2 else None


def check_inputs(name, x, model):
    """Checks that arrays `x` fit `model`'s inputs: rank and per-example
    shape, and finite values.

    Args:
        name: The argument's name, for messages (e.g. `"train_data"`).
        x: One array, or a tuple / list / dict of arrays (one per input).
        model: The Keras model the data is for.

    Raises:
        ValueError: Naming `name`, the input and what was expected.
    """
    arrays = data_forms.input_arrays(x)
    inputs = list(getattr(model, "inputs", None) or [])
    # A dict of inputs is matched by name, not order, by Keras: its shapes are
    # left to Keras; its values are still checked.
    if len(inputs) == len(arrays) and not isinstance(x, dict):
        for array, tensor in zip(arrays, inputs):
            expected = tuple(tensor.shape[1:])
            got = tuple(np.shape(array)[1:])
            fits = len(expected) == len(got) and all(
                e is None or e == g for e, g in zip(expected, got))
            if not fits:
                where = f" (input '{tensor.name}')" if len(inputs) > 1 else ""
                raise ValueError(
                    f"{_arg(name)} has examples of shape {got}{where}, but model "
                    f"'{model.name}' takes {expected} per example (the batch "
                    "axis first). Resize or reshape the data to the model's "
                    "input, or build the model on the data's shape."
                )
    for array in arrays:
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            bad = np.argwhere(~np.isfinite(array))[0]
            raise ValueError(
                f"{_arg(name)} holds a non-finite input ({array[tuple(bad)].item()!r} at index "
                f"{tuple(int(i) for i in bad)}); training on it gives NaN weights. "
                "Clean or drop those examples first."
            )


def check_labels(name, y, model, loss):
    """Checks labels `y` against `loss` and the classes of `model`.

    Args:
        name: The argument's name, for messages.
        y: The labels of a whole array set or of one batch.
        model: The Keras model (its single output gives the classes).
        loss: The loss the labels are used with (see `loss_kind`).

    Returns:
        `y` as a numpy array.

    Raises:
        ValueError: For one-hot rows with a sparse loss, non-integer or
            out-of-range class indices, class-index labels with a
            categorical loss, or non-finite labels; naming `name` and the
            first bad row.
    """
    y = np.asarray(y)
    kind = loss_kind(loss)
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        row = int(np.argwhere(~np.isfinite(y))[0][0])
        raise ValueError(
            f"{_arg(name)} holds a non-finite label ({y.reshape(len(y), -1)[row].tolist()!r} in row {row}). "
            "Labels must be finite."
        )
    classes = num_classes(model)
    if kind == SPARSE:
        _check_sparse(name, y, classes, model)
    elif kind == CATEGORICAL and classes is not None:
        if y.ndim != 2 or y.shape[-1] != classes:
            raise ValueError(
                f"{_arg(name)} has labels of shape {y.shape}, but a categorical "
                f"cross-entropy needs one-hot rows of {classes} values (model "
                f"'{model.name}' has {classes} outputs). Pass "
                f"`keras.utils.to_categorical(y, {classes})`, or use "
                "`SparseCategoricalCrossentropy` for class indices."
            )
    return y


def _check_sparse(name, y, classes, model):
    if y.ndim == 2 and y.shape[1] > 1:
        raise ValueError(
            f"{_arg(name)} has labels of shape {y.shape}, which look one-hot, but "
            "the loss is a sparse categorical cross-entropy, which takes one "
            "integer class index per example. Pass `y.argmax(-1)` as labels, or "
            "use `keras.losses.CategoricalCrossentropy` as the loss."
        )
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ValueError(
            f"{_arg(name)} has labels of shape {y.shape}; a sparse categorical "
            "cross-entropy takes one integer class index per example, shape "
            "(n,) or (n, 1)."
        )
    flat = y.reshape(-1)
    if flat.size == 0:
        return
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer)
                               or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(
            f"{_arg(name)} has labels of dtype {y.dtype}; a sparse categorical "
            "cross-entropy takes integer class indices. Convert them, e.g. "
            "with `np.asarray(y, 'int64')` after mapping class names to indices."
        )
    if np.issubdtype(y.dtype, np.floating):
        fractional = np.flatnonzero(flat != np.round(flat))
        if fractional.size:
            row = int(fractional[0])
            raise ValueError(
                f"{_arg(name)} has float labels that are not whole numbers "
                f"({flat[row].item()!r} in row {row}); a sparse categorical "
                "cross-entropy would truncate them to integers. Pass integer "
                "class indices (or one-hot rows with `CategoricalCrossentropy`)."
            )
    low, high = flat.min(), flat.max()
    if low < 0 or (classes is not None and high >= classes):
        row = int(np.flatnonzero((flat < 0) | (
            flat >= (classes if classes is not None else np.inf)))[0])
        valid = f"0..{classes - 1}" if classes is not None else ">= 0"
        raise ValueError(
            f"{_arg(name)} has a label out of range: {flat[row].item()!r} in row {row} "
            f"(labels span {low.item()!r}..{high.item()!r}), but model '{model.name}' has "
            f"{classes} outputs, so class indices must be in {valid}. Remap the "
            "labels, or give the model's last layer one unit per class."
        )


def first_batch(data):
    """The first `(x, y, ...)` batch of a `tf.data.Dataset` or `PyDataset`
    as numpy values, or `None` when it yields none."""
    for batch in data_forms.batches(data.take(1) if data_forms.is_dataset(data) else data):
        return tuple(_to_numpy(part) for part in batch) if isinstance(
            batch, (tuple, list)) else (_to_numpy(batch),)
    return None


def _to_numpy(value):
    if isinstance(value, dict):
        return {k: np.asarray(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(np.asarray(v) for v in value)
    return None if value is None else np.asarray(value)


def _check_batched(name, data, model):
    """Refuses a `tf.data.Dataset` of single examples."""
    import keras

    spec = data.element_spec
    x_spec = spec[0] if isinstance(spec, (tuple, list)) else spec
    inputs = list(getattr(model, "inputs", None) or [])
    leaves = keras.tree.flatten(x_spec)
    if len(inputs) != len(leaves):
        return
    for leaf, tensor in zip(leaves, inputs):
        shape = getattr(leaf, "shape", None)
        if shape is None or shape.rank is None:
            continue
        if shape.rank == len(tensor.shape) - 1:
            raise ValueError(
                f"{_arg(name)} is a tf.data.Dataset of single examples (x of shape "
                f"{tuple(shape)}), but model '{model.name}' takes batches of "
                f"shape {tuple(tensor.shape)}. Batch it first, e.g. "
                f"`{name}.batch(64)`."
            )


def check_fit_data(name, data, model, loss):
    """Checks training, search or evaluation data against `model` and
    `loss` before any step: arrays whole, datasets on their first batch.

    Args:
        name: The argument's name, for messages.
        data: An `(x, y)` pair of arrays (already through
            `data_forms.check_data`), a `tf.data.Dataset` or a
            `keras.utils.PyDataset` of `(x, y)` batches.
        model: The Keras model trained or evaluated on it.
        loss: Its loss.

    Raises:
        ValueError: As `check_inputs` and `check_labels`, and for a
            `tf.data.Dataset` that is not batched.
    """
    if data_forms.is_dataset(data):
        _check_batched(name, data, model)
    if data_forms.is_batched(data):
        batch = first_batch(data)
        if batch is None:
            return
        if len(batch) < 2 or batch[1] is None:
            return
        x, y = batch[0], batch[1]
        check_inputs(f"{name} (its first batch)", x, model)
        check_labels(f"{name} (its first batch)", y, model, loss)
        return
    x, y = data[0], data[1]
    check_inputs(name, x, model)
    if y is not None:
        check_labels(name, y, model, loss)
