"""BatchNorm recalibration: fresh statistics for a pruned network.

Removing channels changes what every downstream BatchNormalization layer
sees, so its moving mean and variance (collected on the unpruned, or the
soft-masked, network) no longer match and accuracy can collapse although
the weights are fine. `recalibrate_batchnorm` runs forward passes in
training mode over some training batches, with no gradient step, and sets
every BN layer's statistics to the exact mean of their batch statistics
(each batch counts alike).
"""

import itertools

import numpy as np

import keras

from dais_keras.utils.checks import check_int
from dais_keras.utils.data_forms import batches
from dais_keras.utils.data_forms import input_arrays
from dais_keras.utils.data_forms import is_pydataset
from dais_keras.utils.fit_checks import check_inputs


def batchnorm_layers(model):
    """Every `BatchNormalization` layer of `model`, nested models included."""
    return [
        layer for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _inputs_of(batch):
    """The inputs of a batch: `x` of `(x, y[, sample_weight])`."""
    return keras.utils.unpack_x_y_sample_weight(batch)[0]


def _batches(data, batch_size):
    """Yields input batches of `data`: an array, an `(x, y)` tuple (`x` an
    array or a tuple / list / dict of arrays), a `PyDataset`, or any
    iterable of `(x, y)` batches (a `tf.data.Dataset`)."""
    if is_pydataset(data):
        data = batches(data)
    elif isinstance(data, np.ndarray) or isinstance(data, (tuple, list)):
        x = data if isinstance(data, np.ndarray) else data[0]
        rows = len(input_arrays(x)[0])
        for start in range(0, rows, batch_size):
            yield keras.tree.map_structure(lambda a: a[start:start + batch_size], x)
        return
    for batch in data:
        yield _inputs_of(batch)


def _check_data(data, model):
    """Refuses `data` that is no form of inputs, and arrays that do not fit
    `model` or hold NaN / infinity (they would poison the statistics)."""
    if data is None or isinstance(data, (str, bytes, dict)) or not (
            hasattr(data, "__iter__") or is_pydataset(data)):
        raise ValueError(
            "`data` must be training inputs: an array, an (x, y) tuple of arrays, a "
            "tf.data.Dataset, a keras.utils.PyDataset or an iterable of batches; "
            f"received {type(data).__name__}.")
    if isinstance(data, np.ndarray) or isinstance(data, (tuple, list)):
        x = data if isinstance(data, np.ndarray) else data[0]
        check_inputs("data", x, model)


def _assign_all(variables, values):
    """Assigns `values`, one per variable, in the variables' dtypes."""
    for variable, value in zip(variables, values):
        variable.assign(np.asarray(value).astype(variable.dtype))


def _training_forward(model):
    """`model(x, training=True)`, compiled on TensorFlow (a `tf.function`:
    an eager forward pass of a small CNN costs several times a compiled one),
    as it is on the other backends. The BN layers' `momentum` and `trainable`
    must be set before the first call: the function keeps what it traced."""
    if keras.backend.backend() != "tensorflow":
        return lambda x: model(x, training=True)
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=True), reduce_retracing=True)


def recalibrate_batchnorm(model, data, batches=100, batch_size=128):
    """Recomputes every BatchNormalization layer's statistics on `data`.

    Forward passes only (no gradient, no weight change): each BN layer's
    moving mean and variance become the average of its batch statistics over
    the first `batches` batches. The model is changed in place (like `fit`).

    Args:
        model: A Keras model, e.g. a pruned one right after surgery.
        data: Training inputs: an array, an `(x, y)` tuple of arrays, a
            `tf.data.Dataset`, a `keras.utils.PyDataset` or an iterable of
            batches (`(x, y)` batches are fine: labels are ignored).
        batches: Number of batches to average over (at most; fewer if
            `data` ends first).
        batch_size: Batch size for array data.

    Returns:
        The number of batches used (0 when the model has no BN layer).

    Raises:
        ValueError: for `batches` < 1, data that is not inputs of `model`
            (shape, NaN or infinity in arrays), or when `data` yields no batch.

    Example:

    ```python
    pruned = dais_keras.surgery.apply(search_model)
    dais_keras.recalibrate_batchnorm(pruned, (x_train, y_train), batches=100)
    ```
    """
    batches = check_int("batches", batches, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    _check_data(data, model)
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    saved = [(layer.momentum, layer.trainable) for layer in layers]
    variables = [v for layer in layers for v in (layer.moving_mean, layer.moving_variance)]
    original = [keras.ops.convert_to_numpy(v) for v in variables]
    sums = [np.zeros(tuple(v.shape), "float64") for v in variables]
    used = 0
    try:
        for layer in layers:
            layer.trainable = True  # a frozen BN layer ignores training=True
            layer.momentum = 0.0  # each forward pass leaves its batch's statistics
        forward = _training_forward(model)
        for x in itertools.islice(_batches(data, batch_size), batches):
            forward(x)
            for total, variable in zip(sums, variables):
                total += keras.ops.convert_to_numpy(variable)
            used += 1
        if used:
            _assign_all(variables, [total / used for total in sums])
    except BaseException:
        # A failing batch (or an interrupt) leaves the statistics as they were.
        _assign_all(variables, original)
        raise
    finally:
        for layer, (momentum, trainable) in zip(layers, saved):
            layer.momentum = momentum
            layer.trainable = trainable
    if not used:
        _assign_all(variables, original)
        raise ValueError(
            "`data` yielded no batch: BatchNorm statistics need at least one "
            "batch of training inputs."
        )
    return used
