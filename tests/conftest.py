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

from dais_keras.testing import toy_data  # noqa: E402,F401
from dais_keras.testing import toy_model  # noqa: E402,F401


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


_key_bases = iter(range(1000, 10**9, 1000))


@pytest.fixture(autouse=True)
def _fresh_collective_keys():
    """Every `tf.distribute.MirroredStrategy` a test makes numbers its
    collective operations from its own group keys. TensorFlow numbers every
    strategy of a process from the same keys and its collective runtime keeps
    the first strategy's shapes (tensorflow/tensorflow#62790), so a test's
    strategy would otherwise fail after an earlier test's (the docs test runs
    one); `_collective_key_base` is TensorFlow's own switch for its tests."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy
    saved = strategy.__dict__.get("_collective_key_base", 0)
    strategy._collective_key_base = next(_key_bases)
    try:
        yield
    finally:
        strategy._collective_key_base = saved
