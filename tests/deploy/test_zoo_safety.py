"""Issue 12: the zoo never runs code from a file, never writes a name or a
number JSON cannot hold, recovers from a crashed publish, and says what is
wrong in plain words."""

import pytest

import keras
from keras.src.saving import serialization_lib

from dais_keras.deploy import zoo

from deploy_helpers import PUBLISH_ARGS
from deploy_helpers import plant
from deploy_helpers import planted_lambda
from deploy_helpers import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


# ---------------------------------------------------------- #6 safe mode


def test_load_refuses_code_even_after_unsafe_deserialization(
    zoo_dir, tmp_path, tiny, unsafe_deserialization
):
    zoo.publish(tiny, "tiny-cnn", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    marker = tmp_path / "pwned"
    marker.touch()
    plant(zoo_dir, "tiny-cnn@1", planted_lambda(zoo_dir / "weights" / "tiny-cnn@1.keras", marker))
    with pytest.raises(ValueError, match="(?i)lambda"):
        zoo.load("tiny-cnn@1", zoo_dir=zoo_dir)
    assert not marker.exists()
    assert serialization_lib.in_safe_mode() is False  # The caller's setting is kept.


def test_publish_still_refuses_lambda_models_after_unsafe_deserialization(
    zoo_dir, unsafe_deserialization
):
    inputs = keras.Input((8, 8, 3))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(doubled)))
    with pytest.raises(ValueError, match="safe_mode=True"):
        zoo.publish(model, "lambda-net", zoo_dir=zoo_dir, **PUBLISH_ARGS)
    assert not (zoo_dir / "index.json").exists()
