"""Shared test set-up.

Two logical CPU devices are configured before any backend initialises, so
that the distributed search tests can run `tf.distribute.MirroredStrategy`
(TensorFlow) or `keras.distribution.DataParallel` (JAX) on one CPU. Code that
does not ask for a distribution still runs on the first device.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

import keras  # noqa: E402

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    _cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:  # TensorFlow was initialised before this file ran.
        pass

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def toy_model(seed=0, residual=True, batch_norm=True):
    """A small CNN (16x16x3 -> 4 logits) with an optional residual block."""
    L = keras.layers
    keras.utils.set_random_seed(seed)
    norm = (lambda name: L.BatchNormalization(name=name)) if batch_norm else (
        lambda name: L.Identity(name=name))
    inp = keras.Input((16, 16, 3))
    x = L.ReLU()(norm("bn1")(L.Conv2D(8, 3, padding="same", name="conv1")(inp)))
    x = L.ReLU()(norm("bn2")(L.Conv2D(16, 3, strides=2, padding="same", name="conv2")(x)))
    if residual:
        h = L.ReLU()(norm("bn3")(L.Conv2D(16, 3, padding="same", name="block_conv1")(x)))
        h = norm("bn4")(L.Conv2D(16, 3, padding="same", name="block_conv2")(h))
        x = L.ReLU()(L.Add()([x, h]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, name="logits")(x), name="toy")


def toy_data(n=256, seed=0):
    """Images whose label depends on the signs of two quadrant means."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 16, 3)).astype("float32")
    y = (x[:, :8, :8, 0].mean((1, 2)) > 0).astype("int32") + 2 * (
        x[:, 8:, 8:, 1].mean((1, 2)) > 0
    ).astype("int32")
    return x, y


def compile_toy(model, lr=0.05):
    model.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@pytest.fixture
def toy():
    """`toy.model(...)`, `toy.data(...)`, `toy.compile(model)` helpers."""
    import types

    return types.SimpleNamespace(model=toy_model, data=toy_data, compile=compile_toy)
