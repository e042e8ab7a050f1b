"""BatchNorm recalibration after surgery."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.finetune.batchnorm import recalibrate_batchnorm


def _bn_model():
    L = keras.layers
    inp = keras.Input((6, 6, 3))
    x = L.BatchNormalization(momentum=0.9, name="bn1")(L.Conv2D(4, 3, name="c1")(inp))
    x = L.Dense(2)(L.GlobalAveragePooling2D()(L.ReLU()(x)))
    return keras.Model(inp, x)


def test_statistics_are_the_exact_average_of_the_batch_statistics():
    keras.utils.set_random_seed(0)
    model = _bn_model()
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(40, 6, 6, 3)).astype("float32")
    used = recalibrate_batchnorm(model, (x, np.zeros(40)), batches=4, batch_size=10)
    assert used == 4
    conv = keras.Model(model.input, model.get_layer("c1").output)
    h = keras.ops.convert_to_numpy(conv(x))
    means = [h[i * 10:(i + 1) * 10].mean((0, 1, 2)) for i in range(4)]
    bn = model.get_layer("bn1")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, 0), rtol=1e-4, atol=1e-4)
    assert bn.momentum == 0.9  # restored
    weights = [w.numpy().copy() for w in model.trainable_weights]
    recalibrate_batchnorm(model, x, batches=1)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())  # forward passes only


def test_frozen_batchnorm_is_recalibrated_and_stays_frozen():
    model = _bn_model()
    bn = model.get_layer("bn1")
    bn.trainable = False
    recalibrate_batchnorm(model, np.ones((8, 6, 6, 3), "float32"), batches=1)
    assert bn.trainable is False
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)


def test_recalibration_restores_a_hard_masked_network(toy):
    """Soft masks trained into the BN statistics; the pruned model's own
    statistics, recalibrated, match what the hard-masked network computes."""
    model = toy.model(seed=1)
    x, y = toy.data(64)
    search = dk.attach_indicators(model)
    for layer in dk.indicator_layers(search):
        layer.alpha.assign(np.where(np.arange(layer.units) % 2, 1.0, -1.0).astype("float32"))
    dk.binarize(search)
    pruned = dk.surgery.apply(search)
    recalibrate_batchnorm(pruned, x, batches=2, batch_size=32)
    recalibrate_batchnorm(search, x, batches=2, batch_size=32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pruned(x[:8], training=False)),
        keras.ops.convert_to_numpy(search(x[:8], training=False)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data", [iter([]), np.zeros((0, 6, 6, 3), "float32")])
def test_empty_data_is_an_error(data):
    with pytest.raises(ValueError, match="no batch"):
        recalibrate_batchnorm(_bn_model(), data)


def test_bad_batches_is_an_error():
    with pytest.raises(ValueError, match="`batches`"):
        recalibrate_batchnorm(_bn_model(), np.zeros((2, 6, 6, 3)), batches=0)


def test_failing_data_leaves_the_statistics_as_they_were():
    model = _bn_model()
    bn = model.get_layer("bn1")
    before = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]

    def data():
        yield np.full((4, 6, 6, 3), 5.0, "float32")
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        recalibrate_batchnorm(model, data(), batches=3)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before[0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), before[1])
    assert bn.momentum == 0.9 and bn.trainable
