"""Top-1 accuracy of a classifier: the one function every part of the
library and its scripts use."""

import numpy as np

from dais_keras.utils.data_forms import batches
from dais_keras.utils.data_forms import check_arrays
from dais_keras.utils.data_forms import is_batched


def predict_classes(model, data, batch_size=256, verbose=0, name="eval_data"):
    """The predicted classes of `model` on `data`, with the labels.

    Args:
        model: A Keras classifier (its last axis holds the class scores).
        data: `(x, y)` arrays (`x` one array or a tuple / list / dict of
            arrays), or a `tf.data.Dataset` or a (finite)
            `keras.utils.PyDataset` of `(x, y)` batches.
        batch_size: Batch size for arrays.
        verbose: `predict`'s progress bar (arrays).
        name: The argument's name, for messages.

    Returns:
        `(predicted, labels)`: two 1-D arrays, in the order of `data`.

    Raises:
        ValueError: For data that is not one of those forms.
    """
    if is_batched(data):
        predicted, labels = [], []
        for batch in batches(data):
            # The backend's compiled predict step (jitted on JAX), as numpy.
            outputs = model.predict_on_batch(batch[0])
            predicted.append(np.argmax(outputs, axis=-1))
            labels.append(np.asarray(batch[1]).reshape(-1))
        if not labels:
            return np.zeros(0, "int64"), np.zeros(0, "int64")
        return np.concatenate(predicted), np.concatenate(labels)
    x, y = check_arrays(name, data)
    outputs = model.predict(x, batch_size=batch_size, verbose=verbose)
    return np.argmax(outputs, axis=-1), y.reshape(-1)


def accuracy(model, data, batch_size=256, verbose=0, name="eval_data"):
    """Top-1 accuracy of `model` on `(x, y)` arrays or a dataset of batches
    (`tf.data.Dataset` or `keras.utils.PyDataset`).

    Args: as for `predict_classes`.

    Returns:
        The share of examples whose highest score is the label (a float;
        0.0 for an empty dataset).

    Example:

    ```python
    dais_keras.api.accuracy(pruned, (x_test, y_test))
    ```
    """
    predicted, labels = predict_classes(model, data, batch_size, verbose, name)
    return float(np.mean(predicted == labels)) if len(labels) else 0.0


def evaluate(model, sets, *, batch_size=256, verbose=0, label=None, log=None):
    """Top-1 accuracy of `model` on several named evaluation sets.

    Args:
        model: A Keras classifier.
        sets: `{name: data}` (forms of `accuracy`).
        batch_size: Batch size for arrays.
        verbose: `predict`'s progress bar.
        label: What `model` is (e.g. `"pruned"`), for the log lines.
        log: `log(text)`, called once per set: `top-1 <label> on <name>: 91.23%`.

    Returns:
        `{name: accuracy}`.
    """
    results = {}
    for name, data in sets.items():
        results[name] = accuracy(model, data, batch_size, verbose, name=name)
        if log is not None:
            log(f"top-1 {label + ' ' if label else ''}on {name}: {results[name]:.2%}")
    return results
