"""The one accuracy function: arrays, datasets and several inputs agree."""

import numpy as np

import keras

from dais_keras.finetune.accuracy import accuracy
from dais_keras.finetune.accuracy import evaluate
from dais_keras.finetune.accuracy import predict_classes


def test_accuracy_of_arrays_datasets_and_several_inputs():
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Dense(4)(keras.layers.Concatenate()([a, b])))
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(30, 3)).astype("float32"), rng.normal(size=(30, 2)).astype("float32")
    y = rng.integers(0, 4, 30)
    expected = np.argmax(model.predict([xa, xb], verbose=0), -1)
    predicted, labels = predict_classes(model, ((xa, xb), y), batch_size=7)
    np.testing.assert_array_equal(predicted, expected)
    np.testing.assert_array_equal(labels, y)
    value = accuracy(model, ((xa, xb), y))
    assert value == float(np.mean(expected == y))
    dataset = tf.data.Dataset.from_tensor_slices(((xa, xb), y)).batch(8)
    assert accuracy(model, dataset) == value
    assert accuracy(model, dataset.take(0)) == 0.0
    lines = []
    scores = evaluate(model, {"a": ((xa, xb), y), "b": dataset}, label="pruned", log=lines.append)
    assert scores == {"a": value, "b": value}
    assert lines[0] == f"top-1 pruned on a: {value:.2%}"
